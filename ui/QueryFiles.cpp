#include "QueryFiles.h"

#include "QtConvert.h"
#include "softprompt/error.h"

#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>
#include <QStringConverter>
#include <QTextStream>

namespace spui {
namespace {

QString readWholeFile(const QString& path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        throw sp::Error(sp::fileError(toStd(path), "cannot be read (" + toStd(file.errorString()) +
                                                       "): check that it exists and is readable"));
    const QByteArray bytes = file.readAll();
    auto decoder = QStringDecoder(QStringDecoder::Utf8);
    QString text = decoder(bytes);
    if (decoder.hasError())
        throw sp::Error(
            sp::fileError(toStd(path), "is not UTF-8 text: save it as UTF-8 and import it again"));
    if (text.startsWith(QChar(0xFEFF)))
        text.remove(0, 1);
    return text;
}

void writeWholeFile(const QString& path, const QString& text)
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly) || file.write(text.toUtf8()) < 0 || !file.commit())
        throw sp::Error(sp::fileError(toStd(path), "cannot be written (" + toStd(file.errorString()) +
                                                       "): choose a folder you can write to"));
}

bool parseSplit(const QString& value, bool fallback, bool* ok)
{
    const QString v = value.trimmed().toLower();
    *ok = true;
    if (v.isEmpty())
        return fallback;
    if (v == QLatin1String("heldout") || v == QLatin1String("held-out") || v == QLatin1String("test") ||
        v == QLatin1String("true") || v == QLatin1String("1") || v == QLatin1String("yes"))
        return true;
    if (v == QLatin1String("train") || v == QLatin1String("false") || v == QLatin1String("0") ||
        v == QLatin1String("no"))
        return false;
    *ok = false;
    return fallback;
}

QString csvField(const QString& value)
{
    if (!value.contains(QLatin1Char(',')) && !value.contains(QLatin1Char('"')) &&
        !value.contains(QLatin1Char('\n')) && !value.contains(QLatin1Char('\r')))
        return value;
    QString quoted = value;
    quoted.replace(QLatin1String("\""), QLatin1String("\"\""));
    return QLatin1Char('"') + quoted + QLatin1Char('"');
}

} // namespace

std::vector<sp::Query> readQueryJsonl(const QString& path, bool heldOutDefault)
{
    const QString text = readWholeFile(path);
    std::vector<sp::Query> queries;
    int lineNumber = 0;
    for (const QString& rawLine : text.split(QLatin1Char('\n'))) {
        ++lineNumber;
        const QString line = rawLine.trimmed();
        if (line.isEmpty())
            continue;
        const std::string where = toStd(path) + ":" + std::to_string(lineNumber);
        QJsonParseError parseError;
        const QJsonDocument document = QJsonDocument::fromJson(line.toUtf8(), &parseError);
        if (parseError.error != QJsonParseError::NoError)
            throw sp::Error(where + ": not valid JSON (" + toStd(parseError.errorString()) +
                            " at character " + std::to_string(parseError.offset + 1) +
                            "); each line must be one object like {\"query\": \"...\", \"target\": \"...\"}");
        if (!document.isObject())
            throw sp::Error(where + ": expected a JSON object like {\"query\": \"...\"}");
        const QJsonObject object = document.object();
        if (!object.value(QLatin1String("query")).isString())
            throw sp::Error(where + ": the \"query\" field is missing or not a string");
        sp::Query query;
        query.text = toStd(object.value(QLatin1String("query")).toString());
        const QJsonValue target = object.value(QLatin1String("target"));
        if (!target.isUndefined() && !target.isNull() && !target.isString())
            throw sp::Error(where + ": the \"target\" field must be a string");
        query.target = toStd(target.toString());
        const QJsonValue heldOut = object.value(QLatin1String("heldout"));
        if (heldOut.isBool())
            query.heldOut = heldOut.toBool();
        else if (heldOut.isUndefined() || heldOut.isNull())
            query.heldOut = heldOutDefault;
        else
            throw sp::Error(where + ": the \"heldout\" field must be true or false");
        queries.push_back(std::move(query));
    }
    return queries;
}

void writeQueryJsonl(const QString& path, const std::vector<sp::Query>& queries)
{
    QString text;
    for (const sp::Query& query : queries) {
        QJsonObject object;
        object.insert(QLatin1String("query"), toQ(query.text));
        if (!query.target.empty())
            object.insert(QLatin1String("target"), toQ(query.target));
        if (query.heldOut)
            object.insert(QLatin1String("heldout"), true);
        text += QString::fromUtf8(QJsonDocument(object).toJson(QJsonDocument::Compact)) + QLatin1Char('\n');
    }
    writeWholeFile(path, text);
}

std::vector<QStringList> parseCsvRecords(const QString& text, const QString& sourceName)
{
    std::vector<QStringList> records;
    QStringList record;
    QString field;
    bool inQuotes = false;
    bool fieldWasQuoted = false;
    int line = 1;
    int quoteStartLine = 0;
    auto endField = [&] {
        record << field;
        field.clear();
        fieldWasQuoted = false;
    };
    auto endRecord = [&] {
        endField();
        if (!(record.size() == 1 && record.front().isEmpty()))
            records.push_back(record);
        record.clear();
    };
    for (int i = 0; i < text.size(); ++i) {
        const QChar c = text[i];
        if (inQuotes) {
            if (c == QLatin1Char('"')) {
                if (i + 1 < text.size() && text[i + 1] == QLatin1Char('"')) {
                    field += QLatin1Char('"');
                    ++i;
                } else {
                    inQuotes = false;
                }
            } else {
                if (c == QLatin1Char('\n'))
                    ++line;
                field += c;
            }
            continue;
        }
        if (c == QLatin1Char('"')) {
            if (!field.isEmpty() || fieldWasQuoted)
                throw sp::Error(toStd(sourceName) + ":" + std::to_string(line) +
                                ": a quote inside an unquoted field; quote the whole field and double "
                                "the inner quotes (\"\")");
            inQuotes = true;
            fieldWasQuoted = true;
            quoteStartLine = line;
        } else if (c == QLatin1Char(',')) {
            endField();
        } else if (c == QLatin1Char('\n')) {
            endRecord();
            ++line;
        } else if (c == QLatin1Char('\r')) {
            continue;
        } else {
            if (fieldWasQuoted)
                throw sp::Error(toStd(sourceName) + ":" + std::to_string(line) +
                                ": text after a closing quote; put the separator right after it");
            field += c;
        }
    }
    if (inQuotes)
        throw sp::Error(toStd(sourceName) + ":" + std::to_string(quoteStartLine) +
                        ": a quoted field is never closed; add the closing quote");
    if (!field.isEmpty() || !record.isEmpty() || fieldWasQuoted)
        endRecord();
    return records;
}

std::vector<sp::Query> readQueryCsv(const QString& path, bool heldOutDefault)
{
    const std::vector<QStringList> records = parseCsvRecords(readWholeFile(path), path);
    int queryColumn = 0, targetColumn = 1, splitColumn = 2;
    size_t first = 0;
    if (!records.empty()) {
        const QStringList& header = records.front();
        auto find = [&](const QString& name) {
            for (int i = 0; i < header.size(); ++i)
                if (header[i].trimmed().compare(name, Qt::CaseInsensitive) == 0)
                    return i;
            return -1;
        };
        if (find(QStringLiteral("query")) >= 0) {
            queryColumn = find(QStringLiteral("query"));
            targetColumn = find(QStringLiteral("target"));
            splitColumn = find(QStringLiteral("split"));
            if (splitColumn < 0)
                splitColumn = find(QStringLiteral("heldout"));
            first = 1;
        }
    }
    std::vector<sp::Query> queries;
    for (size_t r = first; r < records.size(); ++r) {
        const QStringList& record = records[r];
        auto cell = [&](int column) {
            return column >= 0 && column < record.size() ? record[column] : QString();
        };
        sp::Query query;
        query.text = toStd(cell(queryColumn));
        query.target = toStd(cell(targetColumn));
        bool ok = true;
        query.heldOut = parseSplit(cell(splitColumn), heldOutDefault, &ok);
        if (!ok)
            throw sp::Error(toStd(path) + ": record " + std::to_string(r + 1) + ": split \"" +
                            toStd(cell(splitColumn)) + "\" is neither \"train\" nor \"heldout\"");
        if (query.text.empty() && query.target.empty())
            continue;
        queries.push_back(std::move(query));
    }
    return queries;
}

void writeQueryCsv(const QString& path, const std::vector<sp::Query>& queries)
{
    QString text = QStringLiteral("query,target,split\n");
    for (const sp::Query& query : queries)
        text += csvField(toQ(query.text)) + QLatin1Char(',') + csvField(toQ(query.target)) +
                QLatin1Char(',') + (query.heldOut ? QStringLiteral("heldout") : QStringLiteral("train")) +
                QLatin1Char('\n');
    writeWholeFile(path, text);
}

std::vector<sp::Query> readQueryFile(const QString& path, bool heldOutDefault)
{
    if (QFileInfo(path).suffix().compare(QLatin1String("csv"), Qt::CaseInsensitive) == 0)
        return readQueryCsv(path, heldOutDefault);
    return readQueryJsonl(path, heldOutDefault);
}

void writeQueryFile(const QString& path, const std::vector<sp::Query>& queries)
{
    if (QFileInfo(path).suffix().compare(QLatin1String("csv"), Qt::CaseInsensitive) == 0)
        writeQueryCsv(path, queries);
    else
        writeQueryJsonl(path, queries);
}

} // namespace spui
