#pragma once
// Builders for hand-made safetensors files, shared by the safetensors tests.
#include <QByteArray>
#include <QFile>
#include <QString>
#include <QtTest>

#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>

namespace sptest {

// The 8-byte little-endian header length, the header text, then the data buffer. `declaredLength`
// overrides the length field to craft inconsistent files.
inline QByteArray safetensorsBytes(const QByteArray& header, const QByteArray& data = {},
                                   std::optional<std::uint64_t> declaredLength = std::nullopt)
{
    const std::uint64_t length = declaredLength ? *declaredLength : static_cast<std::uint64_t>(header.size());
    QByteArray bytes;
    for (int i = 0; i < 8; ++i)
        bytes.append(static_cast<char>((length >> (8 * i)) & 0xFF));
    return bytes + header + data;
}

inline QByteArray floatBytes(std::initializer_list<float> values)
{
    QByteArray bytes;
    for (float value : values)
        bytes.append(reinterpret_cast<const char*>(&value), sizeof value);
    return bytes;
}

inline QString writeFile(const QString& path, const QByteArray& bytes)
{
    QFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size())
        qFatal("cannot write %s", qPrintable(path));
    return path;
}

// Runs `action`, which must throw sp::Error whose message is one line holding every string in
// `expected`.
#define SP_EXPECT_ERROR(action, expected)                                                                    \
    do {                                                                                                     \
        bool spThrew = false;                                                                                \
        try {                                                                                                \
            action;                                                                                          \
        } catch (const sp::Error& spError) {                                                                 \
            spThrew = true;                                                                                  \
            const QString spMessage = QString::fromStdString(spError.what());                                \
            QVERIFY2(!spMessage.contains('\n'), qPrintable("not one line: " + spMessage));                   \
            for (const QString& spPart : QStringList(expected))                                              \
                QVERIFY2(spMessage.contains(spPart),                                                         \
                         qPrintable(QStringLiteral("message \"%1\" lacks \"%2\"").arg(spMessage, spPart)));  \
        }                                                                                                    \
        QVERIFY2(spThrew, "expected an sp::Error");                                                          \
    } while (false)

} // namespace sptest
