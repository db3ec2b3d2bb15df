// libFuzzer target for the safetensors reader: the 8-byte length, the JSON header and the layout
// checks. Every input must either load or raise sp::Error; a file that loads must keep the reader's
// promises (sizes, alignment, readable bytes) and survive a write/read round trip unchanged.
#include "softprompt/error.h"
#include "softprompt/safetensors.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>

namespace {

void check(bool condition)
{
    if (!condition)
        __builtin_trap();
}

// Mutations rarely keep the 8-byte header length consistent with the JSON they change, so inputs
// that start with 'H' describe a file instead: byte 1 is the data-buffer length L, the rest is the
// header JSON followed by L data bytes, and the length field is computed. Other inputs are raw files.
std::string fileBytesFor(const std::uint8_t* data, std::size_t size)
{
    const char* bytes = reinterpret_cast<const char*>(data);
    if (size < 2 || bytes[0] != 'H')
        return std::string(bytes, size);
    const std::size_t payload = size - 2;
    const std::size_t dataLength = std::min<std::size_t>(data[1], payload);
    const std::uint64_t headerLength = payload - dataLength;
    std::string file;
    for (int i = 0; i < 8; ++i)
        file += static_cast<char>((headerLength >> (8 * i)) & 0xFF);
    return file + std::string(bytes + 2, payload);
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::shared_ptr<sp::SafetensorsFile> file;
    try {
        file = sp::SafetensorsFile::fromBytes(fileBytesFor(data, size), "fuzz");
    } catch (const sp::Error&) {
        return 0;
    }

    std::vector<sp::TensorToWrite> tensors;
    std::size_t total = 0;
    unsigned checksum = 0;
    for (const std::string& name : file->names()) {
        const sp::TensorView& view = file->tensor(name);
        const std::size_t elementBytes = sp::dtypeSize(view.dtype);
        check(view.name == name);
        check(view.elementCount() >= 0);
        check(view.byteSize == static_cast<std::size_t>(view.elementCount()) * elementBytes);
        check(reinterpret_cast<std::uintptr_t>(view.data) % elementBytes == 0);
        // Touch every byte so the sanitizers see any read outside the buffer.
        for (std::size_t i = 0; i < view.byteSize; ++i)
            checksum += static_cast<unsigned>(view.data[i]);
        total += view.byteSize;
        tensors.push_back({view.name, view.dtype, view.shape, view.data});
    }
    check(total <= size);
    (void)checksum;

    // What was accepted is written back in the reference layout and reads back identically.
    const std::string rewritten = sp::serializeSafetensors(tensors, file->metadata());
    const auto reread = sp::SafetensorsFile::fromBytes(rewritten, "fuzz-rewritten");
    check(reread->metadata() == file->metadata());
    check(reread->names().size() == tensors.size());
    for (const sp::TensorToWrite& tensor : tensors) {
        const sp::TensorView& view = reread->tensor(tensor.name);
        check(view.dtype == tensor.dtype && view.shape == tensor.shape);
        check(std::memcmp(view.data, tensor.data, view.byteSize) == 0);
    }
    return 0;
}
