// The safetensors reader and writer against the reference format (huggingface/safetensors,
// safetensors/src/tensor.rs): every rejection, the odd inputs the reference accepts, the exact
// byte layout of the writer, every dtype, and tensors whose bytes are not aligned.
#include "softprompt/error.h"
#include "softprompt/safetensors.h"
#include "test_safetensors_util.h"

#include <QDir>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

#include <cstdint>
#include <limits>

using sptest::floatBytes;
using sptest::safetensorsBytes;

Q_DECLARE_METATYPE(sp::TensorDType)

class TestSafetensors : public QObject {
    Q_OBJECT

private:
    QTemporaryDir dir_;

    QString pathFor(const char* tag) const
    {
        QString name = QString::fromLatin1(tag);
        name.replace(QRegularExpression(QStringLiteral("[^A-Za-z0-9]+")), QStringLiteral("-"));
        return dir_.filePath(name + QStringLiteral(".safetensors"));
    }

private slots:
    void initTestCase() { QVERIFY(dir_.isValid()); }

    // ---- rejections ------------------------------------------------------------------------------

    void rejectsMalformedFile_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QStringList>("expected"); // all must appear in the message

        const QByteArray sixteenZeros(16, '\0');
        const QByteArray goodHeader = R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}})";

        QTest::newRow("empty file") << QByteArray() << QStringList{"0 bytes", "too short"};
        QTest::newRow("5 bytes") << QByteArray(5, '\x01') << QStringList{"too short"};
        QTest::newRow("header over 100 MB") << safetensorsBytes(goodHeader, sixteenZeros, 100'000'001ull)
                                            << QStringList{"100000001", "100 MB limit"};
        QTest::newRow("8+N overflows 64 bits")
            << safetensorsBytes(goodHeader, sixteenZeros, std::numeric_limits<std::uint64_t>::max())
            << QStringList{"18446744073709551615", "100 MB limit"};
        QTest::newRow("header past end of file")
            << safetensorsBytes("{}", {}, 60)
            << QStringList{"header length 60", "runs past the end", "10 bytes"};
        QTest::newRow("length only") << safetensorsBytes({}, {}, 60) << QStringList{"runs past the end"};
        QTest::newRow("invalid UTF-8")
            << safetensorsBytes("{\"a\xff\":{}}") << QStringList{"not valid UTF-8", "offset 3"};
        QTest::newRow("UTF-8 surrogate")
            << safetensorsBytes("{\"\xed\xa0\x80\":1}") << QStringList{"not valid UTF-8", "offset 2"};
        QTest::newRow("truncated JSON") << safetensorsBytes("{") << QStringList{"not valid JSON"};
        QTest::newRow("JSON syntax error")
            << safetensorsBytes(R"({"test":{"dtype":"I32",}})") << QStringList{"not valid JSON"};
        QTest::newRow("empty header") << safetensorsBytes("") << QStringList{"not valid JSON"};
        QTest::newRow("NUL padding") << safetensorsBytes(QByteArray("{}\0\0\0\0\0\0", 8))
                                     << QStringList{"not valid JSON", "NUL byte at header offset 2"};
        QTest::newRow("byte-order mark")
            << safetensorsBytes("\xEF\xBB\xBF{}   ") << QStringList{"byte-order mark"};
        QTest::newRow("header is an array")
            << safetensorsBytes("[]      ") << QStringList{"must be a JSON object"};
        QTest::newRow("nesting deeper than serde_json allows")
            << safetensorsBytes("{\"x\":" + QByteArray(200, '[') + QByteArray(200, ']') + "}")
            << QStringList{"nested more than 128"};
        QTest::newRow("duplicate tensor name")
            << safetensorsBytes(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                                R"("w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
                                "ab")
            << QStringList{"\"w\" twice", "duplicate keys"};
        QTest::newRow("duplicate field in a tensor entry")
            << safetensorsBytes(R"({"w":{"dtype":"U8","dtype":"I8","shape":[1],"data_offsets":[0,1]}})", "a")
            << QStringList{"\"dtype\" twice"};
        QTest::newRow("duplicate __metadata__")
            << safetensorsBytes(R"({"__metadata__":{},"__metadata__":{}})")
            << QStringList{"\"__metadata__\" twice"};
        QTest::newRow("duplicate metadata key")
            << safetensorsBytes(R"({"__metadata__":{"k":"a","k":"b"}})") << QStringList{"\"k\" twice"};
        QTest::newRow("metadata value not a string") << safetensorsBytes(R"({"__metadata__":{"step":3}})")
                                                     << QStringList{"\"step\"", "must be a string"};
        QTest::newRow("metadata not an object")
            << safetensorsBytes(R"({"__metadata__":"pt"})") << QStringList{"__metadata__ must be an object"};
        QTest::newRow("unknown dtype")
            << safetensorsBytes(R"({"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", "abcd")
            << QStringList{"tensor \"w\"", "unknown dtype \"F33\"", "BF16"};
        QTest::newRow("name with a newline stays on one line")
            << safetensorsBytes("{\"line\\nbreak\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                                "abcd")
            << QStringList{"tensor \"line\\nbreak\"", "unknown dtype"}; // serde_json's escape
        QTest::newRow("lower-case dtype")
            << safetensorsBytes(R"({"w":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", "abcd")
            << QStringList{"tensor \"w\"", "unknown dtype \"f32\""};
        QTest::newRow("reference dtype this program cannot hold")
            << safetensorsBytes(R"({"w":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", "a")
            << QStringList{"tensor \"w\"", "F8_E4M3", "not supported"};
        QTest::newRow("entry without data_offsets")
            << safetensorsBytes(R"({"w":{"dtype":"U8","shape":[1]}})", "a")
            << QStringList{"tensor \"w\"", "no \"data_offsets\""};
        QTest::newRow("entry without dtype")
            << safetensorsBytes(R"({"w":{"shape":[1],"data_offsets":[0,1]}})", "a")
            << QStringList{"tensor \"w\"", "no \"dtype\""};
        QTest::newRow("entry not an object")
            << safetensorsBytes(R"({"w":[1,2,3]})") << QStringList{"tensor \"w\"", "must be an object"};
        QTest::newRow("negative dimension")
            << safetensorsBytes(R"({"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", "a")
            << QStringList{"tensor \"w\"", "non-negative integer", "-1"};
        QTest::newRow("fractional dimension")
            << safetensorsBytes(R"({"w":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}})", "a")
            << QStringList{"tensor \"w\"", "non-negative integer"};
        QTest::newRow("three offsets")
            << safetensorsBytes(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1,1]}})", "a")
            << QStringList{"tensor \"w\"", "[begin, end]"};
        QTest::newRow("offsets not starting at 0")
            << safetensorsBytes(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})", "ab")
            << QStringList{"tensor \"w\"", "[1, 2]", "not contiguous", "byte 0"};
        QTest::newRow("gap between tensors")
            << safetensorsBytes(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                                R"("b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}})",
                                "abc")
            << QStringList{"tensor \"b\"", "not contiguous", "byte 1"};
        QTest::newRow("overlapping tensors")
            << safetensorsBytes(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},)"
                                R"("b":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})",
                                "abc")
            << QStringList{"tensor \"b\"", "not contiguous"};
        QTest::newRow("end before begin")
            << safetensorsBytes(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                                R"("c":{"dtype":"U8","shape":[0],"data_offsets":[1,0]}})",
                                "a")
            << QStringList{"tensor \"c\"", "[1, 0]", "not contiguous"};
        QTest::newRow("byte size does not match dtype x shape")
            << safetensorsBytes(R"({"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0, 4]}})", "abcd")
            << QStringList{"tensor \"test\"", "hold 4 bytes", "I32 x shape [2, 2] needs 16 bytes"};
        QTest::newRow("shape overflows 64 bits")
            << safetensorsBytes(
                   R"({"test":{"dtype":"I32","shape":[2,18446744073709551614],"data_offsets":[0,16]}})",
                   sixteenZeros)
            << QStringList{"tensor \"test\"", "overflow"};
        QTest::newRow("shape x dtype size overflows")
            << safetensorsBytes(
                   R"({"test":{"dtype":"I32","shape":[2,9223372036854775807],"data_offsets":[0,16]}})",
                   sixteenZeros)
            << QStringList{"tensor \"test\"", "overflows when computing its byte size"};
        QTest::newRow("trailing bytes (polyglot file)")
            << safetensorsBytes(goodHeader, sixteenZeros + "extra_bogus_data_for_polyglot_file")
            << QStringList{"34 trailing bytes"};
        QTest::newRow("data truncated") << safetensorsBytes(goodHeader, QByteArray(14, '\0'))
                                        << QStringList{"needs 16 bytes", "only 14", "truncated"};
    }

    void rejectsMalformedFile()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(QStringList, expected);

        const QString path = sptest::writeFile(pathFor(QTest::currentDataTag()), bytes);
        SP_EXPECT_ERROR(sp::SafetensorsFile::open(path.toStdString()), expected + QStringList{path + ": "});

        // The bytes-in-memory path (σ checkpoints from SQLite) judges identically.
        const std::string source = "runs.sqlite:sigma/7";
        SP_EXPECT_ERROR(sp::SafetensorsFile::fromBytes(bytes.toStdString(), source),
                        expected + QStringList{"runs.sqlite:sigma/7: "});
    }

    void missingFileNamesIt()
    {
        const QString path = dir_.filePath(QStringLiteral("absent.safetensors"));
        SP_EXPECT_ERROR(sp::SafetensorsFile::open(path.toStdString()), (QStringList{path, "cannot open"}));
        SP_EXPECT_ERROR(sp::SafetensorsFile::open(dir_.path().toStdString()),
                        (QStringList{dir_.path(), "not a regular file"}));
    }

    void unknownTensorNamesFileAndTensor()
    {
        const QString path = sptest::writeFile(
            pathFor("one tensor"),
            safetensorsBytes(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "z"));
        const auto file = sp::SafetensorsFile::open(path.toStdString());
        SP_EXPECT_ERROR(file->tensor("missing.weight"), (QStringList{path, "\"missing.weight\""}));
    }

    // ---- what the reference accepts ---------------------------------------------------------------

    void acceptsWhatTheReferenceAccepts_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<int>("tensorCount");

        QTest::newRow("trailing JSON whitespace") << safetensorsBytes("{}\r \t\n") << 0;
        QTest::newRow("leading JSON whitespace") << safetensorsBytes("\t\n{}\r ") << 0;
        QTest::newRow("zero-sized tensor")
            << safetensorsBytes(R"({"test":{"dtype":"I32","shape":[2,0],"data_offsets":[0, 0]}})") << 1;
        QTest::newRow("scalar (empty shape)")
            << safetensorsBytes(R"({"test":{"dtype":"I32","shape":[],"data_offsets":[0,4]}})",
                                QByteArray(4, '\0'))
            << 1;
        QTest::newRow("null metadata") << safetensorsBytes(R"({"__metadata__":null})") << 0;
        QTest::newRow("unknown field in an entry")
            << safetensorsBytes(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"note":{"x":[1]}}})",
                                "a")
            << 1;
        QTest::newRow("entries out of offset order")
            << safetensorsBytes(R"({"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},)"
                                R"("a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})",
                                "xy")
            << 2;
    }

    void acceptsWhatTheReferenceAccepts()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(int, tensorCount);
        const QString path = sptest::writeFile(pathFor(QTest::currentDataTag()), bytes);
        const auto file = sp::SafetensorsFile::open(path.toStdString());
        QCOMPARE(static_cast<int>(file->names().size()), tensorCount);
        for (const std::string& name : file->names()) {
            const sp::TensorView& view = file->tensor(name);
            QCOMPARE(view.byteSize,
                     static_cast<std::size_t>(view.elementCount()) * sp::dtypeSize(view.dtype));
            QVERIFY(view.data != nullptr);
        }
    }

    void namesFollowTheDataOrder()
    {
        const auto file = sp::SafetensorsFile::fromBytes(
            safetensorsBytes(R"({"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},)"
                             R"("a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})",
                             "xy")
                .toStdString(),
            "mem");
        QCOMPARE(file->names(), (std::vector<std::string>{"a", "b"}));
        QCOMPARE(static_cast<char>(file->tensor("a").data[0]), 'x');
        QCOMPARE(static_cast<char>(file->tensor("b").data[0]), 'y');
    }

    // ---- the writer's exact layout ------------------------------------------------------------

    void writerMatchesReferenceLayout_data()
    {
        QTest::addColumn<QString>("tensorName");
        QTest::addColumn<QList<qint64>>("shape");
        QTest::addColumn<QString>("metadataValue"); // for key "framework"; empty = no metadata
        QTest::addColumn<QByteArray>("expectedHeader");

        // Header texts as the reference writer produces them (compact JSON, padded with spaces to 8).
        QTest::newRow("64-byte header needs no padding")
            << "attn.0" << QList<qint64>{1, 2, 3} << QString()
            << QByteArray(R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})");
        QTest::newRow("padding aligns the data")
            << "attn0" << QList<qint64>{1, 1, 2, 3} << QString()
            << QByteArray(R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})") + "       ";
        QTest::newRow("metadata first")
            << "attn0" << QList<qint64>{6} << QStringLiteral("pt")
            << QByteArray(
                   R"({"__metadata__":{"framework":"pt"},"attn0":{"dtype":"F32","shape":[6],"data_offsets":[0,24]}})") +
                   "   ";
    }

    void writerMatchesReferenceLayout()
    {
        QFETCH(QString, tensorName);
        QFETCH(QList<qint64>, shape);
        QFETCH(QString, metadataValue);
        QFETCH(QByteArray, expectedHeader);
        QCOMPARE(expectedHeader.size() % 8, 0);

        const QByteArray data = floatBytes({0, 1, 2, 3, 4, 5});
        const sp::TensorToWrite tensor{tensorName.toStdString(), sp::TensorDType::F32,
                                       std::vector<std::int64_t>(shape.begin(), shape.end()),
                                       data.constData()};
        std::map<std::string, std::string> metadata;
        if (!metadataValue.isEmpty())
            metadata["framework"] = metadataValue.toStdString();
        const std::string bytes = sp::serializeSafetensors({tensor}, metadata);
        QCOMPARE(QByteArray::fromStdString(bytes), safetensorsBytes(expectedHeader, data));

        const auto file = sp::SafetensorsFile::fromBytes(bytes, "mem");
        QCOMPARE(file->metadata(), metadata);
        QCOMPARE(file->alignedCopyCount(), std::size_t(0));
    }

    void writerOfNoTensors()
    {
        QCOMPARE(QByteArray::fromStdString(sp::serializeSafetensors({})), safetensorsBytes("{}      "));
        QCOMPARE(QByteArray::fromStdString(sp::serializeSafetensors({}, {{"framework", "pt"}})),
                 safetensorsBytes(R"({"__metadata__":{"framework":"pt"}})" + QByteArray(5, ' ')));
    }

    void writerOrdersByAlignmentThenName()
    {
        const std::int64_t i64 = -7;
        const float f32[2] = {1.5f, -2.0f};
        const std::uint16_t f16[2] = {0x3C00, 0xC000};
        const std::uint8_t flags[3] = {1, 0, 1};
        const std::vector<sp::TensorToWrite> tensors = {
            {"z.flags", sp::TensorDType::BOOL, {3}, flags}, {"b.half", sp::TensorDType::F16, {2}, f16},
            {"b.float", sp::TensorDType::F32, {2}, f32},    {"a.float", sp::TensorDType::F32, {2}, f32},
            {"c.long", sp::TensorDType::I64, {}, &i64},
        };
        const std::string bytes = sp::serializeSafetensors(tensors);
        const QByteArray expectedHeader = R"({"c.long":{"dtype":"I64","shape":[],"data_offsets":[0,8]},)"
                                          R"("a.float":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},)"
                                          R"("b.float":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},)"
                                          R"("b.half":{"dtype":"F16","shape":[2],"data_offsets":[24,28]},)"
                                          R"("z.flags":{"dtype":"BOOL","shape":[3],"data_offsets":[28,31]}})";
        QCOMPARE(QByteArray::fromStdString(bytes).mid(8, expectedHeader.size()), expectedHeader);

        const auto file = sp::SafetensorsFile::fromBytes(bytes, "mem");
        QCOMPARE(file->names(),
                 (std::vector<std::string>{"c.long", "a.float", "b.float", "b.half", "z.flags"}));
        QCOMPARE(*reinterpret_cast<const std::int64_t*>(file->tensor("c.long").data), i64);
        QCOMPARE(reinterpret_cast<const float*>(file->tensor("b.float").data)[1], -2.0f);
        QCOMPARE(reinterpret_cast<const std::uint16_t*>(file->tensor("b.half").data)[0],
                 std::uint16_t(0x3C00));
        QCOMPARE(static_cast<int>(file->tensor("z.flags").data[2]), 1);
    }

    void writerEscapesNamesAsJson()
    {
        const std::uint8_t byte = 42;
        const std::string name = "quote\" back\\slash\nnew\x01line \xc3\xa9t\xc3\xa9 / 😀";
        const std::string bytes = sp::serializeSafetensors({{name, sp::TensorDType::U8, {1}, &byte}});
        const QByteArray header = QByteArray::fromStdString(bytes).mid(8);
        QVERIFY(header.contains(R"("quote\" back\\slash\nnew\u0001line )"));
        QVERIFY(header.contains("\xc3\xa9t\xc3\xa9 / \xf0\x9f\x98\x80")); // non-ASCII and '/' stay raw
        const auto file = sp::SafetensorsFile::fromBytes(bytes, "mem");
        QVERIFY(file->contains(name));
        QCOMPARE(static_cast<int>(file->tensor(name).data[0]), 42);
    }

    void writerRejectsBadInput()
    {
        const float value = 1;
        SP_EXPECT_ERROR(sp::serializeSafetensors({{"w", sp::TensorDType::F32, {1}, &value},
                                                  {"w", sp::TensorDType::F32, {1}, &value}}),
                        QStringList{"two tensors named \"w\""});
        SP_EXPECT_ERROR(sp::serializeSafetensors({{"__metadata__", sp::TensorDType::F32, {1}, &value}}),
                        QStringList{"reserved"});
        SP_EXPECT_ERROR(sp::serializeSafetensors({{"w", sp::TensorDType::F32, {-1}, &value}}),
                        (QStringList{"\"w\"", "negative"}));
        SP_EXPECT_ERROR(sp::serializeSafetensors({{"w", sp::TensorDType::F32, {2}, nullptr}}),
                        (QStringList{"\"w\"", "no data"}));
    }

    // ---- every dtype round-trips ----------------------------------------------------------------

    void roundTripsEveryDtype_data()
    {
        QTest::addColumn<sp::TensorDType>("dtype");
        for (sp::TensorDType dtype :
             {sp::TensorDType::F32, sp::TensorDType::F16, sp::TensorDType::BF16, sp::TensorDType::F64,
              sp::TensorDType::I64, sp::TensorDType::I32, sp::TensorDType::I16, sp::TensorDType::I8,
              sp::TensorDType::U8, sp::TensorDType::BOOL})
            QTest::newRow(sp::dtypeName(dtype).c_str()) << dtype;
    }

    void roundTripsEveryDtype()
    {
        QFETCH(sp::TensorDType, dtype);
        const std::vector<std::int64_t> shape = {3, 5};
        const std::size_t elementBytes = sp::dtypeSize(dtype);
        QByteArray payload(static_cast<int>(15 * elementBytes), '\0');
        for (int i = 0; i < payload.size(); ++i)
            payload[i] =
                static_cast<char>(dtype == sp::TensorDType::BOOL ? (i % 3 == 0) : (i * 37 + 11) & 0xFF);
        // A one-byte tensor first puts the second tensor's bytes at an odd offset unless the writer
        // orders by alignment as the reference does.
        const std::uint8_t tag = 9;
        const std::string path = pathFor(QTest::currentDataTag()).toStdString();
        sp::writeSafetensors(
            path, {{"a.tag", sp::TensorDType::U8, {1}, &tag}, {"values", dtype, shape, payload.constData()}},
            {{"dtype", sp::dtypeName(dtype)}});

        const auto file = sp::SafetensorsFile::open(path);
        const sp::TensorView& view = file->tensor("values");
        QCOMPARE(view.dtype, dtype);
        QCOMPARE(view.shape, shape);
        QCOMPARE(view.elementCount(), std::int64_t(15));
        QCOMPARE(view.byteSize, std::size_t(payload.size()));
        QCOMPARE(QByteArray(reinterpret_cast<const char*>(view.data), payload.size()), payload);
        QCOMPARE(reinterpret_cast<std::uintptr_t>(view.data) % elementBytes, std::uintptr_t(0));
        QCOMPARE(file->alignedCopyCount(), std::size_t(0));
        QCOMPARE(file->metadata().at("dtype"), sp::dtypeName(dtype));
        QCOMPARE(static_cast<int>(file->tensor("a.tag").data[0]), 9);
    }

    // ---- unaligned data is copied, and still right ----------------------------------------------

    void copiesOnlyUnalignedTensors()
    {
        // "b" (F32) starts one byte into the buffer, after the 1-byte "a"; "c" (U8) never needs a copy.
        const QByteArray header = R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                                  R"("b":{"dtype":"F32","shape":[3],"data_offsets":[1,13]},)"
                                  R"("c":{"dtype":"U8","shape":[2],"data_offsets":[13,15]}})";
        QByteArray padded = header;
        padded.append((8 - padded.size() % 8) % 8, ' ');
        const QByteArray data =
            QByteArray("\x05") + floatBytes({0.25f, -3.5f, 1e30f}) + QByteArray("\x07\x08");
        const QString path = sptest::writeFile(pathFor("unaligned"), safetensorsBytes(padded, data));

        const auto file = sp::SafetensorsFile::open(path.toStdString());
        QCOMPARE(file->alignedCopyCount(), std::size_t(1));
        const sp::TensorView& b = file->tensor("b");
        QCOMPARE(reinterpret_cast<std::uintptr_t>(b.data) % 4, std::uintptr_t(0));
        const float* values = reinterpret_cast<const float*>(b.data);
        QCOMPARE(values[0], 0.25f);
        QCOMPARE(values[1], -3.5f);
        QCOMPARE(values[2], 1e30f);
        QCOMPARE(static_cast<int>(file->tensor("a").data[0]), 5);
        QCOMPARE(static_cast<int>(file->tensor("c").data[1]), 8);
    }

    void unpaddedHeaderMisalignsEverything()
    {
        // A header of odd length (legal: padding is only a convention) shifts every tensor.
        QByteArray header = R"({"x":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},)"
                            R"("y":{"dtype":"BF16","shape":[1],"data_offsets":[16,18]}})";
        if (header.size() % 2 == 0)
            header += ' ';
        const std::int64_t x[2] = {std::numeric_limits<std::int64_t>::min(), 123456789012345};
        const std::uint16_t y = 0x3F80; // 1.0 in bfloat16
        QByteArray data(reinterpret_cast<const char*>(x), sizeof x);
        data.append(reinterpret_cast<const char*>(&y), sizeof y);
        const auto file = sp::SafetensorsFile::fromBytes(safetensorsBytes(header, data).toStdString(), "mem");
        QCOMPARE(file->alignedCopyCount(), std::size_t(2));
        QCOMPARE(reinterpret_cast<const std::int64_t*>(file->tensor("x").data)[0], x[0]);
        QCOMPARE(reinterpret_cast<const std::int64_t*>(file->tensor("x").data)[1], x[1]);
        QCOMPARE(*reinterpret_cast<const std::uint16_t*>(file->tensor("y").data), y);
    }
};

QTEST_GUILESS_MAIN(TestSafetensors)
#include "test_safetensors.moc"
