#include "Project.h"
#include "softprompt/train_config_json.h"

#include "QtConvert.h"
#include "QueryTableModel.h"
#include "Session.h"
#include "TrainingPanel.h"
#include "softprompt/error.h"

#include <QAbstractSpinBox>
#include <QComboBox>
#include <QCoreApplication>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLineEdit>
#include <QSaveFile>
#include <QSettings>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTimer>
#include <QUndoStack>

#include <algorithm>

#ifdef __unix__
#include <cerrno>
#include <csignal>
#include <sys/types.h>
#include <unistd.h>
#endif

namespace spui {
namespace {

const QString kFormat = QStringLiteral("softprompt-workbench-project");
constexpr int kVersion = 1;
constexpr int kMaxRecentFiles = 8;
constexpr int kDefaultAutosaveDelayMs = 1500;

bool processIsAlive(qint64 pid)
{
#ifdef __unix__
    if (pid <= 0)
        return false;
    if (::kill(pid_t(pid), 0) == 0)
        return true;
    return errno == EPERM; // exists, but belongs to someone else
#else
    Q_UNUSED(pid);
    return false;
#endif
}

QJsonObject queryToJson(const sp::Query& query)
{
    QJsonObject object{{QStringLiteral("query"), toQ(query.text)}};
    if (!query.target.empty())
        object.insert(QStringLiteral("target"), toQ(query.target));
    if (query.heldOut)
        object.insert(QStringLiteral("heldout"), true);
    return object;
}

} // namespace

QByteArray projectToJson(const ProjectData& data)
{
    QJsonArray queries;
    for (const sp::Query& query : data.queries)
        queries.append(queryToJson(query));
    QJsonObject root{{QStringLiteral("format"), kFormat},
                     {QStringLiteral("version"), kVersion},
                     {QStringLiteral("context"),
                      QJsonObject{{QStringLiteral("name"), data.contextName}, {QStringLiteral("text"), data.context}}},
                     {QStringLiteral("queryTemplate"), data.queryTemplate},
                     {QStringLiteral("queries"), queries},
                     {QStringLiteral("sweepKs"), data.sweepKs}};
    if (!data.trainingJson.isEmpty())
        root.insert(QStringLiteral("training"), QJsonDocument::fromJson(data.trainingJson.toUtf8()).object());
    return QJsonDocument(root).toJson(QJsonDocument::Indented);
}

ProjectData projectFromJson(const QByteArray& json, const QString& sourceName)
{
    auto fail = [&sourceName](const QString& detail) {
        throw sp::Error(sp::fileError(toStd(sourceName), toStd(detail)));
    };
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(json, &parseError);
    if (parseError.error != QJsonParseError::NoError)
        fail(QStringLiteral("is not a workbench project (JSON error at byte %1: %2); open a .spwb file that "
                            "the workbench saved")
                 .arg(parseError.offset)
                 .arg(parseError.errorString()));
    const QJsonObject root = document.object();
    if (root.value(QStringLiteral("format")).toString() != kFormat)
        fail(QStringLiteral("is JSON but not a workbench project (no \"format\": \"%1\"); open a .spwb file that "
                            "the workbench saved")
                 .arg(kFormat));
    const int version = root.value(QStringLiteral("version")).toInt();
    if (version > kVersion)
        fail(QStringLiteral("was saved by a newer workbench (project version %1, this one reads up to %2); "
                            "update the workbench to open it")
                 .arg(version)
                 .arg(kVersion));
    ProjectData data;
    const QJsonObject context = root.value(QStringLiteral("context")).toObject();
    data.contextName = context.value(QStringLiteral("name")).toString();
    data.context = context.value(QStringLiteral("text")).toString();
    data.queryTemplate = root.value(QStringLiteral("queryTemplate")).toString();
    data.sweepKs = root.value(QStringLiteral("sweepKs")).toString();
    const QJsonArray queries = root.value(QStringLiteral("queries")).toArray();
    for (int i = 0; i < queries.size(); ++i) {
        const QJsonObject object = queries[i].toObject();
        if (!object.value(QStringLiteral("query")).isString())
            fail(QStringLiteral("query %1 has no \"query\" text; remove it or give it one").arg(i + 1));
        sp::Query query;
        query.text = toStd(object.value(QStringLiteral("query")).toString());
        query.target = toStd(object.value(QStringLiteral("target")).toString());
        query.heldOut = object.value(QStringLiteral("heldout")).toBool();
        data.queries.push_back(std::move(query));
    }
    if (root.value(QStringLiteral("training")).isObject()) {
        const QByteArray training =
            QJsonDocument(root.value(QStringLiteral("training")).toObject()).toJson(QJsonDocument::Compact);
        try {
            sp::trainConfigFromJson(nlohmann::json::parse(training.toStdString()));
        } catch (const std::exception& e) {
            fail(QStringLiteral("has training settings this workbench cannot read (%1); fix or remove the "
                                "\"training\" object")
                     .arg(toQ(e.what())));
        }
        data.trainingJson = QString::fromUtf8(training);
    }
    return data;
}

void writeProjectFile(const QString& path, const ProjectData& data)
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        throw sp::Error(sp::fileError(toStd(path), toStd(QStringLiteral("cannot be written (%1); choose another "
                                                                        "folder")
                                                             .arg(file.errorString()))));
    file.write(projectToJson(data));
    if (!file.commit())
        throw sp::Error(sp::fileError(toStd(path), toStd(QStringLiteral("could not be saved (%1); free disk "
                                                                        "space or choose another folder")
                                                             .arg(file.errorString()))));
}

ProjectData readProjectFile(const QString& path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        throw sp::Error(sp::fileError(
            toStd(path),
            toStd(QStringLiteral("cannot be read (%1); check that it exists").arg(file.errorString()))));
    return projectFromJson(file.readAll(), path);
}

Project::Project(Session* session, TrainingPanel* panel, QObject* parent)
    : QObject(parent), session_(session), panel_(panel)
{
    undoStack_ = new QUndoStack(this);
    session_->queries()->setUndoStack(undoStack_);
    autosaveTimer_ = new QTimer(this);
    autosaveTimer_->setSingleShot(true);
    autosaveTimer_->setInterval(kDefaultAutosaveDelayMs);
    connect(autosaveTimer_, &QTimer::timeout, this, &Project::autosaveNow);

    connect(session_, &Session::contextChanged, this, &Project::onContentChanged);
    connect(session_->queries(), &QueryTableModel::queriesChanged, this, &Project::onContentChanged);
    connect(session_->queries(), &QueryTableModel::queryTemplateChanged, this, &Project::onContentChanged);
    // The training settings are part of the project: any edit in the panel modifies it.
    for (QAbstractSpinBox* box : panel_->findChildren<QAbstractSpinBox*>()) {
        if (auto* spin = qobject_cast<QSpinBox*>(box))
            connect(spin, &QSpinBox::valueChanged, this, &Project::onContentChanged);
        else if (auto* doubleSpin = qobject_cast<QDoubleSpinBox*>(box))
            connect(doubleSpin, &QDoubleSpinBox::valueChanged, this, &Project::onContentChanged);
    }
    for (QComboBox* combo : panel_->findChildren<QComboBox*>())
        connect(combo, &QComboBox::currentIndexChanged, this, &Project::onContentChanged);
    for (QLineEdit* edit : panel_->findChildren<QLineEdit*>())
        if (!qobject_cast<QAbstractSpinBox*>(edit->parentWidget()))
            connect(edit, &QLineEdit::textEdited, this, &Project::onContentChanged);
}

Project::~Project()
{
    removeAutosave();
}

QString Project::displayName() const
{
    return path_.isEmpty() ? tr("Untitled") : QFileInfo(path_).completeBaseName();
}

ProjectData Project::capture() const
{
    ProjectData data;
    data.contextName = session_->contextNameForText();
    data.context = session_->context();
    data.queryTemplate = session_->queries()->queryTemplate();
    data.queries = session_->queries()->queries();
    try {
        data.trainingJson = toQ(sp::trainConfigToJson(panel_->config()).dump());
    } catch (const std::exception&) {
        data.trainingJson.clear();
    }
    if (auto* ks = panel_->findChild<QLineEdit*>(QStringLiteral("sweepKsEdit")))
        data.sweepKs = ks->text();
    return data;
}

void Project::apply(const ProjectData& data)
{
    applying_ = true;
    session_->setContext(data.context);
    session_->setContextName(data.contextName); // names exactly this text
    session_->queries()->setQueryTemplate(data.queryTemplate);
    session_->queries()->setQueries(data.queries);
    if (!data.trainingJson.isEmpty()) {
        try {
            panel_->setConfig(sp::trainConfigFromJson(nlohmann::json::parse(toStd(data.trainingJson))));
        } catch (const std::exception&) {
            // projectFromJson validated it; a failure here leaves the panel as it was
        }
    }
    if (!data.sweepKs.isEmpty())
        if (auto* ks = panel_->findChild<QLineEdit*>(QStringLiteral("sweepKsEdit")))
            ks->setText(data.sweepKs);
    applying_ = false;
    onContentChanged();
}

bool Project::save(QString* error)
{
    if (path_.isEmpty()) {
        if (error)
            *error = tr("The project has no file yet; use Save As.");
        return false;
    }
    return saveAs(path_, error);
}

bool Project::saveAs(const QString& path, QString* error)
{
    try {
        writeProjectFile(path, capture());
    } catch (const std::exception& e) {
        if (error)
            *error = toQ(e.what());
        return false;
    }
    setPath(path);
    addRecentFile(path);
    setModified(false);
    return true;
}

bool Project::open(const QString& path, QString* error)
{
    ProjectData data;
    try {
        data = readProjectFile(path);
    } catch (const std::exception& e) {
        if (error)
            *error = toQ(e.what());
        return false;
    }
    apply(data);
    undoStack_->clear(); // the history belonged to the project that was replaced
    setPath(QFileInfo(path).absoluteFilePath());
    addRecentFile(path_);
    setModified(false);
    return true;
}

void Project::clear()
{
    ProjectData empty;
    apply(empty);
    undoStack_->clear();
    setPath(QString());
    setModified(false);
}

void Project::setPath(const QString& path)
{
    if (path == path_)
        return;
    path_ = path;
    emit pathChanged(path_);
}

void Project::setModified(bool modified)
{
    if (modified) {
        autosaveTimer_->start();
    } else {
        autosaveTimer_->stop();
        removeAutosave();
    }
    if (modified == modified_)
        return;
    modified_ = modified;
    emit modifiedChanged(modified_);
}

void Project::onContentChanged()
{
    if (applying_ || !tracking_)
        return;
    setModified(true);
}

QStringList Project::recentFiles()
{
    QStringList files = QSettings().value(QStringLiteral("project/recent")).toStringList();
    files.erase(std::remove_if(files.begin(), files.end(), [](const QString& f) { return !QFileInfo::exists(f); }),
                files.end());
    return files;
}

void Project::addRecentFile(const QString& path)
{
    const QString absolute = QFileInfo(path).absoluteFilePath();
    QStringList files = QSettings().value(QStringLiteral("project/recent")).toStringList();
    files.removeAll(absolute);
    files.prepend(absolute);
    while (files.size() > kMaxRecentFiles)
        files.removeLast();
    QSettings().setValue(QStringLiteral("project/recent"), files);
}

QString Project::recoveryFolder()
{
    return QDir(QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation))
        .filePath(QStringLiteral("softprompt-workbench/recovery"));
}

QString Project::autosaveFile() const
{
    return QDir(recoveryFolder())
        .filePath(QStringLiteral("autosave-%1.json").arg(QCoreApplication::applicationPid()));
}

void Project::setAutosaveDelay(int milliseconds)
{
    autosaveTimer_->setInterval(milliseconds);
}

void Project::autosaveNow()
{
    if (!modified_)
        return;
    if (!QDir().mkpath(recoveryFolder()))
        return;
    QJsonObject envelope{
        {QStringLiteral("projectPath"), path_},
        {QStringLiteral("savedAt"), QDateTime::currentDateTimeUtc().toString(Qt::ISODate)},
        {QStringLiteral("pid"), QCoreApplication::applicationPid()},
        {QStringLiteral("project"), QJsonDocument::fromJson(projectToJson(capture())).object()}};
    QSaveFile file(autosaveFile());
    if (!file.open(QIODevice::WriteOnly))
        return; // the next edit tries again; the work itself is still in the window
    file.write(QJsonDocument(envelope).toJson(QJsonDocument::Compact));
    file.commit();
}

void Project::removeAutosave()
{
    QFile::remove(autosaveFile());
}

std::vector<RecoveredWork> Project::findRecoverableWork()
{
    std::vector<RecoveredWork> found;
    const QDir folder(recoveryFolder());
    for (const QFileInfo& info :
         folder.entryInfoList({QStringLiteral("autosave-*.json")}, QDir::Files, QDir::Time)) {
        QFile file(info.absoluteFilePath());
        if (!file.open(QIODevice::ReadOnly))
            continue;
        const QJsonObject envelope = QJsonDocument::fromJson(file.readAll()).object();
        const qint64 pid = envelope.value(QStringLiteral("pid")).toInteger();
        if (pid == QCoreApplication::applicationPid() || processIsAlive(pid))
            continue; // another workbench is still working on it
        RecoveredWork work;
        work.file = info.absoluteFilePath();
        work.projectPath = envelope.value(QStringLiteral("projectPath")).toString();
        work.savedAt = QDateTime::fromString(envelope.value(QStringLiteral("savedAt")).toString(), Qt::ISODate);
        try {
            work.data = projectFromJson(QJsonDocument(envelope.value(QStringLiteral("project")).toObject()).toJson(),
                                        info.absoluteFilePath());
        } catch (const std::exception&) {
            continue; // a torn write cannot happen (QSaveFile), a foreign file is not ours to offer
        }
        found.push_back(std::move(work));
    }
    return found;
}

} // namespace spui
