#include "Examples.h"

#include "QtConvert.h"
#include "QueryFiles.h"
#include "softprompt/paths.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace spui {
namespace {

// Titles, suggested training settings and order from an index file (index.json:
// [{"name": ..., "title": ...}] or {"examples": [...]}), when the examples folder has one.
std::vector<ExampleInfo> readIndex(const QDir& root)
{
    std::vector<ExampleInfo> entries;
    for (const QString& file : {QStringLiteral("index.json"), QStringLiteral("examples.json")}) {
        QFile index(root.filePath(file));
        if (!index.open(QIODevice::ReadOnly))
            continue;
        const QJsonDocument document = QJsonDocument::fromJson(index.readAll());
        QJsonArray array = document.isArray() ? document.array()
                                              : document.object().value(QLatin1String("examples")).toArray();
        for (const QJsonValue& value : array) {
            const QJsonObject object = value.toObject();
            QString name = object.value(QLatin1String("name")).toString();
            if (name.isEmpty())
                name = object.value(QLatin1String("folder")).toString();
            if (name.isEmpty())
                name = object.value(QLatin1String("id")).toString();
            if (name.isEmpty())
                continue;
            ExampleInfo entry;
            entry.name = name;
            entry.title = object.value(QLatin1String("title")).toString();
            const QJsonObject training = object.value(QLatin1String("training")).toObject();
            entry.suggestedTarget = training.value(QLatin1String("target")).toString();
            entry.suggestedLength = training.value(QLatin1String("length")).toInt();
            entry.suggestedSteps = training.value(QLatin1String("steps")).toInt();
            entries.push_back(entry);
        }
        break;
    }
    return entries;
}

} // namespace

std::vector<ExampleInfo> listExamples()
{
    QString directory;
    try {
        directory = toQ(sp::examplesDirectory());
    } catch (const std::exception&) {
        return {};
    }
    const QDir root(directory);
    std::vector<ExampleInfo> examples;
    auto add = [&](ExampleInfo entry) {
        const QString folder = root.filePath(entry.name);
        if (!QFile::exists(QDir(folder).filePath(QStringLiteral("context.txt"))))
            return;
        for (const ExampleInfo& existing : examples)
            if (existing.name == entry.name)
                return;
        if (entry.title.isEmpty())
            entry.title = entry.name;
        entry.folder = QDir(folder).absolutePath();
        examples.push_back(entry);
    };
    for (const ExampleInfo& entry : readIndex(root))
        add(entry);
    for (const QString& name : root.entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name)) {
        ExampleInfo entry;
        entry.name = name;
        add(entry);
    }
    return examples;
}

ExampleContent loadExample(const ExampleInfo& example)
{
    const QDir folder(example.folder);
    ExampleContent content;
    content.context = toQ(sp::readTextFile(toStd(folder.filePath(QStringLiteral("context.txt")))));
    for (const auto& [file, heldOut] : {std::make_pair(QStringLiteral("train.jsonl"), false),
                                        std::make_pair(QStringLiteral("heldout.jsonl"), true)}) {
        if (!QFile::exists(folder.filePath(file)))
            continue;
        for (sp::Query& query : readQueryJsonl(folder.filePath(file), heldOut))
            content.queries.push_back(std::move(query));
    }
    return content;
}

} // namespace spui
