#pragma once
// The safetensors format (https://github.com/huggingface/safetensors), read and written exactly.
// Reading memory-maps the file (private, copy-on-write: writing through a view never changes the file)
// and copies a tensor only when its data is not aligned to its element size. Every rejection the reference reader makes is an sp::Error naming the file (and tensor).
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sp {

enum class TensorDType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL };

std::size_t dtypeSize(TensorDType dtype);
std::string dtypeName(TensorDType dtype); // "F32", "BF16", ...

struct TensorView {
    std::string name;
    TensorDType dtype = TensorDType::F32;
    std::vector<std::int64_t> shape;
    const std::byte* data = nullptr; // aligned to dtypeSize(dtype); valid while the file lives
    std::size_t byteSize = 0;
    bool mapped = false; // data points into a file's memory mapping (not an aligned copy or owned bytes)
    std::int64_t elementCount() const;
};

// After a mapped tensor's values were copied elsewhere (converted, fused), drops the whole memory pages
// inside its bytes from this process's resident memory (madvise MADV_DONTNEED), so that a loaded model
// does not count both. The mapping stays valid: touching the bytes again reads them back from the file.
// Does nothing for a view that is not mapped.
void releaseMappedPages(const TensorView& view);

class SafetensorsFile {
public:
    // Memory-maps `path`. Throws sp::Error("<path>: <what is wrong>") on any malformed input. The
    // file must not be truncated while mapped (writeSafetensors replaces files, never rewrites them).
    static std::shared_ptr<SafetensorsFile> open(const std::string& path);
    // Parses bytes held in memory (σ checkpoints stored in SQLite). `sourceName` names it in errors.
    static std::shared_ptr<SafetensorsFile> fromBytes(std::string bytes, const std::string& sourceName);

    const std::string& path() const;
    std::vector<std::string> names() const; // in file order (the order of their data)
    bool contains(const std::string& name) const;
    const TensorView& tensor(const std::string& name) const; // throws naming file and tensor
    const std::map<std::string, std::string>& metadata() const;
    // How many tensors had to be copied because their bytes in the file were not aligned to their
    // element size (0 for files written by the reference writer or by writeSafetensors).
    std::size_t alignedCopyCount() const;

    ~SafetensorsFile();
    struct Impl;

private:
    explicit SafetensorsFile(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// A model folder's weights: model.safetensors, or shards listed in model.safetensors.index.json.
class SafetensorsCheckpoint {
public:
    // `folder` may also be a single .safetensors file. A shard the index lists but the folder lacks,
    // a tensor the index places in a shard that does not hold it, or a tensor held by two shards is
    // an sp::Error naming the files.
    static SafetensorsCheckpoint openFolder(const std::string& folder);
    std::vector<std::string> names() const;
    bool contains(const std::string& name) const;
    const TensorView& tensor(const std::string& name) const;
    std::vector<std::string> files() const; // the .safetensors files, for hashing

private:
    std::vector<std::shared_ptr<SafetensorsFile>> shards_;
    std::map<std::string, std::size_t> shardOfTensor_;
};

struct TensorToWrite {
    std::string name;
    TensorDType dtype = TensorDType::F32;
    std::vector<std::int64_t> shape;
    const void* data = nullptr; // dtypeSize(dtype) * product(shape) bytes
};

// Serialises in the reference layout (header padded to 8 bytes, tensors sorted as the reference does).
std::string serializeSafetensors(const std::vector<TensorToWrite>& tensors,
                                 const std::map<std::string, std::string>& metadata = {});
// Writes atomically (temporary file + rename) so a crash never leaves half a file.
void writeSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

} // namespace sp
