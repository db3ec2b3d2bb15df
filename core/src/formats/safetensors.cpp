#include "softprompt/safetensors.h"

#include "formats/safetensors_layout.h"
#include "softprompt/error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace sp {

namespace fs = std::filesystem;

std::size_t dtypeSize(TensorDType dtype)
{
    switch (dtype) {
    case TensorDType::F64:
    case TensorDType::I64:
        return 8;
    case TensorDType::F32:
    case TensorDType::I32:
        return 4;
    case TensorDType::F16:
    case TensorDType::BF16:
    case TensorDType::I16:
        return 2;
    case TensorDType::I8:
    case TensorDType::U8:
    case TensorDType::BOOL:
        return 1;
    }
    return 1;
}

std::string dtypeName(TensorDType dtype)
{
    switch (dtype) {
    case TensorDType::F32:
        return "F32";
    case TensorDType::F16:
        return "F16";
    case TensorDType::BF16:
        return "BF16";
    case TensorDType::F64:
        return "F64";
    case TensorDType::I64:
        return "I64";
    case TensorDType::I32:
        return "I32";
    case TensorDType::I16:
        return "I16";
    case TensorDType::I8:
        return "I8";
    case TensorDType::U8:
        return "U8";
    case TensorDType::BOOL:
        return "BOOL";
    }
    return "?";
}

std::int64_t TensorView::elementCount() const
{
    // Unsigned arithmetic: intermediate products of a shape such as [2^40, 2^40, 0] may wrap, but
    // the exact result of every shape the reader accepts fits, and wrapping yields it exactly.
    std::uint64_t count = 1;
    for (std::int64_t dim : shape)
        count *= static_cast<std::uint64_t>(dim);
    return static_cast<std::int64_t>(count);
}

// ---- reading ------------------------------------------------------------------------------------

namespace {

// A read-only memory map of a whole file, unmapped when destroyed.
class MappedFile {
public:
    explicit MappedFile(const std::string& path)
    {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            throw Error(fileError(path, std::string("cannot open: ") + std::strerror(errno)));
        struct stat info {};
        if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
            ::close(fd);
            throw Error(fileError(path, "not a regular file"));
        }
        size_ = static_cast<std::size_t>(info.st_size);
        if (size_ > 0) {
            // Private and writable: pages are copied on write, so a model that trains weights it
            // loaded as views of the file never changes the file nor faults.
            void* address = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
            if (address == MAP_FAILED) {
                const int error = errno;
                ::close(fd);
                throw Error(fileError(path, std::string("cannot memory-map: ") + std::strerror(error)));
            }
            data_ = static_cast<const char*>(address);
        }
        ::close(fd);
    }
    ~MappedFile()
    {
        if (data_)
            ::munmap(const_cast<char*>(data_), size_);
    }
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    std::string_view bytes() const { return {data_ ? data_ : "", size_}; }

private:
    const char* data_ = nullptr;
    std::size_t size_ = 0;
};

// Where empty tensors point: aligned for every dtype, never read.
alignas(8) const std::byte kEmptyTensorData[8] = {};

} // namespace

struct SafetensorsFile::Impl {
    std::string path;
    std::unique_ptr<MappedFile> mapping; // open()
    std::string ownedBytes;              // fromBytes()
    std::map<std::string, std::string> metadata;
    std::vector<TensorView> tensors; // in data order
    std::map<std::string, std::size_t> indexOfName;
    // Copies of tensors whose bytes in the file are not aligned to their element size.
    std::vector<std::unique_ptr<std::uint64_t[]>> alignedCopies;

    void load(std::string_view bytes, bool fromMapping)
    {
        formats::SafetensorsLayout layout = formats::parseSafetensorsLayout(bytes, path);
        metadata = std::move(layout.metadata);
        tensors.reserve(layout.tensors.size());
        for (formats::TensorEntry& entry : layout.tensors) {
            TensorView view;
            view.name = std::move(entry.name);
            view.dtype = entry.dtype;
            view.shape = std::move(entry.shape);
            view.byteSize = static_cast<std::size_t>(entry.end - entry.begin);
            const char* source = bytes.data() + layout.dataStart + entry.begin;
            if (view.byteSize == 0) {
                view.data = kEmptyTensorData;
            } else if (reinterpret_cast<std::uintptr_t>(source) % dtypeSize(view.dtype) == 0) {
                view.data = reinterpret_cast<const std::byte*>(source);
                view.mapped = fromMapping;
            } else {
                auto copy = std::make_unique<std::uint64_t[]>((view.byteSize + 7) / 8);
                std::memcpy(copy.get(), source, view.byteSize);
                view.data = reinterpret_cast<const std::byte*>(copy.get());
                alignedCopies.push_back(std::move(copy));
            }
            indexOfName[view.name] = tensors.size();
            tensors.push_back(std::move(view));
        }
    }
};

SafetensorsFile::SafetensorsFile(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SafetensorsFile::~SafetensorsFile() = default;

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path)
{
    auto impl = std::make_unique<Impl>();
    impl->path = path;
    impl->mapping = std::make_unique<MappedFile>(path);
    impl->load(impl->mapping->bytes(), /*fromMapping=*/true);
    return std::shared_ptr<SafetensorsFile>(new SafetensorsFile(std::move(impl)));
}

std::shared_ptr<SafetensorsFile> SafetensorsFile::fromBytes(std::string bytes, const std::string& sourceName)
{
    auto impl = std::make_unique<Impl>();
    impl->path = sourceName;
    impl->ownedBytes = std::move(bytes);
    impl->load(impl->ownedBytes, /*fromMapping=*/false);
    return std::shared_ptr<SafetensorsFile>(new SafetensorsFile(std::move(impl)));
}

const std::string& SafetensorsFile::path() const
{
    return impl_->path;
}

std::vector<std::string> SafetensorsFile::names() const
{
    std::vector<std::string> names;
    names.reserve(impl_->tensors.size());
    for (const TensorView& view : impl_->tensors)
        names.push_back(view.name);
    return names;
}

bool SafetensorsFile::contains(const std::string& name) const
{
    return impl_->indexOfName.count(name) > 0;
}

const TensorView& SafetensorsFile::tensor(const std::string& name) const
{
    const auto found = impl_->indexOfName.find(name);
    if (found == impl_->indexOfName.end())
        throw Error(fileError(impl_->path, "no tensor named " + formats::quotedName(name) +
                                               " (the file holds " + std::to_string(impl_->tensors.size()) +
                                               " tensors)"));
    return impl_->tensors[found->second];
}

const std::map<std::string, std::string>& SafetensorsFile::metadata() const
{
    return impl_->metadata;
}

std::size_t SafetensorsFile::alignedCopyCount() const
{
    return impl_->alignedCopies.size();
}

void releaseMappedPages(const TensorView& view)
{
    if (!view.mapped || view.byteSize == 0)
        return;
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<std::uintptr_t>(view.data);
    const std::uintptr_t end = begin + view.byteSize;
    // Only pages wholly inside the tensor: a page it shares with a neighbour may back a live view.
    const std::uintptr_t first = (begin + page - 1) / page * page;
    const std::uintptr_t last = end / page * page;
    if (last > first)
        ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

// ---- checkpoints --------------------------------------------------------------------------------

namespace {

std::string readWholeFile(const std::string& path)
{
    std::FILE* file = std::fopen(path.c_str(), "rb");
    if (!file)
        throw Error(fileError(path, std::string("cannot open: ") + std::strerror(errno)));
    std::string text;
    char buffer[65536];
    std::size_t got;
    while ((got = std::fread(buffer, 1, sizeof buffer, file)) > 0)
        text.append(buffer, got);
    const bool failed = std::ferror(file);
    std::fclose(file);
    if (failed)
        throw Error(fileError(path, "read error"));
    return text;
}

// The shard file names of model.safetensors.index.json, keyed by tensor name.
std::map<std::string, std::string> readWeightMap(const std::string& indexPath)
{
    nlohmann::json index;
    try {
        index = nlohmann::json::parse(readWholeFile(indexPath));
    } catch (const nlohmann::json::exception& e) {
        throw Error(fileError(indexPath, std::string("not valid JSON: ") + e.what()));
    }
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
        throw Error(fileError(indexPath, "has no \"weight_map\" object mapping tensor names to shard files"));
    std::map<std::string, std::string> weightMap;
    for (const auto& [name, shard] : index["weight_map"].items()) {
        if (!shard.is_string())
            throw Error(fileError(indexPath,
                                  "weight_map entry " + formats::quotedName(name) + " must be a file name"));
        const std::string file = shard.get<std::string>();
        // A shard must be a plain file name next to the index, never a path that leaves the folder.
        if (file.empty() || file.find('/') != std::string::npos || file.find('\\') != std::string::npos ||
            file == "." || file == "..")
            throw Error(fileError(indexPath, "weight_map entry " + formats::quotedName(name) + " names " +
                                                 formats::quotedName(file) +
                                                 ", which is not a file name in the model folder"));
        weightMap[name] = file;
    }
    if (weightMap.empty())
        throw Error(fileError(indexPath, "weight_map is empty"));
    return weightMap;
}

} // namespace

SafetensorsCheckpoint SafetensorsCheckpoint::openFolder(const std::string& folder)
{
    SafetensorsCheckpoint checkpoint;
    std::error_code error;
    if (fs::is_regular_file(folder, error) && fs::path(folder).extension() == ".safetensors") {
        checkpoint.shards_.push_back(SafetensorsFile::open(folder));
    } else {
        if (!fs::is_directory(folder, error))
            throw Error(fileError(folder, "is not a model folder (expected a folder holding "
                                          "model.safetensors or model.safetensors.index.json)"));
        const fs::path root(folder);
        const std::string indexPath = (root / "model.safetensors.index.json").string();
        const std::string singlePath = (root / "model.safetensors").string();
        if (fs::exists(indexPath, error)) {
            const std::map<std::string, std::string> weightMap = readWeightMap(indexPath);
            std::map<std::string, std::size_t> shardIndexOfFile;
            for (const auto& [name, file] : weightMap) {
                if (shardIndexOfFile.count(file))
                    continue;
                const fs::path shardPath = root / file;
                if (!fs::exists(shardPath, error))
                    throw Error(fileError(indexPath, "lists shard " + formats::quotedName(file) +
                                                         " (for tensor " + formats::quotedName(name) +
                                                         ") but " + shardPath.string() +
                                                         " does not exist; download the missing shard"));
                shardIndexOfFile[file] = checkpoint.shards_.size();
                checkpoint.shards_.push_back(SafetensorsFile::open(shardPath.string()));
            }
            for (const auto& [name, file] : weightMap) {
                const std::size_t shard = shardIndexOfFile.at(file);
                if (!checkpoint.shards_[shard]->contains(name))
                    throw Error(fileError(indexPath, "says tensor " + formats::quotedName(name) + " is in " +
                                                         file + ", but that shard has no such tensor"));
                checkpoint.shardOfTensor_[name] = shard;
            }
        } else if (fs::exists(singlePath, error)) {
            checkpoint.shards_.push_back(SafetensorsFile::open(singlePath));
        } else {
            std::string hint;
            if (fs::exists(root / "pytorch_model.bin", error) || fs::exists(root / "model.pt", error))
                hint = "; only safetensors weights are read: convert the PyTorch .bin weights to "
                       "safetensors (for example with transformers' save_pretrained)";
            throw Error(fileError(folder, "has no model.safetensors or model.safetensors.index.json" + hint));
        }
    }

    // Tensors present in a shard but absent from the index still load, unless two shards both hold them.
    for (std::size_t shard = 0; shard < checkpoint.shards_.size(); ++shard) {
        for (const std::string& name : checkpoint.shards_[shard]->names()) {
            const auto [where, inserted] = checkpoint.shardOfTensor_.emplace(name, shard);
            if (!inserted && where->second != shard && checkpoint.shards_[where->second]->contains(name))
                throw Error(fileError(checkpoint.shards_[shard]->path(),
                                      "tensor " + formats::quotedName(name) + " is also in " +
                                          checkpoint.shards_[where->second]->path() +
                                          "; a checkpoint must hold each tensor once"));
        }
    }
    return checkpoint;
}

std::vector<std::string> SafetensorsCheckpoint::names() const
{
    std::vector<std::string> names;
    for (std::size_t shard = 0; shard < shards_.size(); ++shard)
        for (const std::string& name : shards_[shard]->names())
            if (shardOfTensor_.at(name) == shard)
                names.push_back(name);
    return names;
}

bool SafetensorsCheckpoint::contains(const std::string& name) const
{
    return shardOfTensor_.count(name) > 0;
}

const TensorView& SafetensorsCheckpoint::tensor(const std::string& name) const
{
    const auto found = shardOfTensor_.find(name);
    if (found == shardOfTensor_.end()) {
        const std::string where =
            shards_.size() == 1 ? shards_.front()->path() : shards_.front()->path() + " and its other shards";
        throw Error(fileError(where, "the checkpoint has no tensor named " + formats::quotedName(name) +
                                         "; the weights do not match this model's config.json"));
    }
    return shards_[found->second]->tensor(name);
}

std::vector<std::string> SafetensorsCheckpoint::files() const
{
    std::vector<std::string> files;
    for (const auto& shard : shards_)
        files.push_back(shard->path());
    return files;
}

// ---- writing ------------------------------------------------------------------------------------

namespace {

struct PlannedTensor {
    const TensorToWrite* source;
    std::size_t byteSize;
};

std::vector<PlannedTensor> planTensors(const std::vector<TensorToWrite>& tensors)
{
    std::vector<PlannedTensor> planned;
    std::set<std::string> seen;
    for (const TensorToWrite& tensor : tensors) {
        if (tensor.name == "__metadata__")
            throw Error("cannot write a tensor named \"__metadata__\": the name is reserved by safetensors");
        if (!seen.insert(tensor.name).second)
            throw Error("cannot write two tensors named " + formats::quotedName(tensor.name));
        std::size_t bytes = dtypeSize(tensor.dtype);
        for (std::int64_t dim : tensor.shape) {
            if (dim < 0)
                throw Error("tensor " + formats::quotedName(tensor.name) + " has a negative dimension");
            const auto size = static_cast<std::size_t>(dim);
            if (size != 0 && bytes > std::numeric_limits<std::size_t>::max() / size)
                throw Error("tensor " + formats::quotedName(tensor.name) + " is too large to write");
            bytes *= size;
        }
        if (bytes > 0 && !tensor.data)
            throw Error("tensor " + formats::quotedName(tensor.name) + " has no data");
        planned.push_back({&tensor, bytes});
    }
    // The reference writes the widest dtypes first, then by name (byte order).
    std::sort(planned.begin(), planned.end(), [](const PlannedTensor& a, const PlannedTensor& b) {
        const int rankA = formats::referenceDtypeRank(a.source->dtype);
        const int rankB = formats::referenceDtypeRank(b.source->dtype);
        return rankA != rankB ? rankA > rankB : a.source->name < b.source->name;
    });
    return planned;
}

std::string headerFor(const std::vector<PlannedTensor>& planned,
                      const std::map<std::string, std::string>& metadata)
{
    std::string header = "{";
    bool first = true;
    if (!metadata.empty()) {
        header += "\"__metadata__\":{";
        for (auto it = metadata.begin(); it != metadata.end(); ++it) {
            if (it != metadata.begin())
                header += ',';
            formats::appendJsonString(header, it->first);
            header += ':';
            formats::appendJsonString(header, it->second);
        }
        header += '}';
        first = false;
    }
    std::size_t offset = 0;
    for (const PlannedTensor& tensor : planned) {
        if (!first)
            header += ',';
        first = false;
        formats::appendJsonString(header, tensor.source->name);
        header += ":{\"dtype\":\"" + dtypeName(tensor.source->dtype) + "\",\"shape\":[";
        for (std::size_t i = 0; i < tensor.source->shape.size(); ++i)
            header += (i ? "," : "") + std::to_string(tensor.source->shape[i]);
        header += "],\"data_offsets\":[" + std::to_string(offset) + "," +
                  std::to_string(offset + tensor.byteSize) + "]}";
        offset += tensor.byteSize;
    }
    header += '}';
    header.append((8 - header.size() % 8) % 8, ' ');
    if (header.size() > formats::kMaxHeaderBytes)
        throw Error("safetensors header would be " + std::to_string(header.size()) +
                    " bytes, over the format's 100 MB limit");
    return header;
}

void appendLittleEndian64(std::string& out, std::uint64_t value)
{
    for (int i = 0; i < 8; ++i)
        out += static_cast<char>((value >> (8 * i)) & 0xFF);
}

} // namespace

std::string serializeSafetensors(const std::vector<TensorToWrite>& tensors,
                                 const std::map<std::string, std::string>& metadata)
{
    const std::vector<PlannedTensor> planned = planTensors(tensors);
    const std::string header = headerFor(planned, metadata);
    std::size_t total = 8 + header.size();
    for (const PlannedTensor& tensor : planned)
        total += tensor.byteSize;
    std::string bytes;
    bytes.reserve(total);
    appendLittleEndian64(bytes, header.size());
    bytes += header;
    for (const PlannedTensor& tensor : planned)
        bytes.append(static_cast<const char*>(tensor.source->data), tensor.byteSize);
    return bytes;
}

void writeSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                      const std::map<std::string, std::string>& metadata)
{
    const std::vector<PlannedTensor> planned = planTensors(tensors);
    const std::string header = headerFor(planned, metadata);
    std::string prefix;
    appendLittleEndian64(prefix, header.size());
    prefix += header;

    // A sibling temporary file renamed over `path`: readers never see half a file, and a file
    // that is memory-mapped elsewhere keeps its old contents.
    const fs::path target(path);
    const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
    std::string pattern = (parent / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
    const int fd = ::mkstemp(pattern.data());
    if (fd < 0)
        throw Error(fileError(path, std::string("cannot create a temporary file next to it: ") +
                                        std::strerror(errno)));
    auto fail = [&](const std::string& what) {
        const int error = errno;
        ::close(fd);
        ::unlink(pattern.c_str());
        throw Error(fileError(path, what + ": " + std::strerror(error)));
    };
    auto writeAll = [&](const char* data, std::size_t size) {
        while (size > 0) {
            const ssize_t written = ::write(fd, data, size);
            if (written < 0) {
                if (errno == EINTR)
                    continue;
                fail("cannot write");
            }
            data += written;
            size -= static_cast<std::size_t>(written);
        }
    };
    writeAll(prefix.data(), prefix.size());
    for (const PlannedTensor& tensor : planned)
        writeAll(static_cast<const char*>(tensor.source->data), tensor.byteSize);
    // mkstemp creates the file 0600; give it the permissions an ordinary new file gets.
    const mode_t mask = ::umask(0);
    ::umask(mask);
    ::fchmod(fd, 0666 & ~mask);
    if (::fsync(fd) != 0)
        fail("cannot flush to disk");
    if (::close(fd) != 0) {
        ::unlink(pattern.c_str());
        throw Error(fileError(path, std::string("cannot close: ") + std::strerror(errno)));
    }
    if (std::rename(pattern.c_str(), path.c_str()) != 0) {
        const int error = errno;
        ::unlink(pattern.c_str());
        throw Error(fileError(path, std::string("cannot replace: ") + std::strerror(error)));
    }
}

} // namespace sp
