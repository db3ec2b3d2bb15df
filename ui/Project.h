#pragma once
// The user's work as a project: the context c (and where it came from), the query set, the query
// template and the training settings, kept in one JSON file (*.spwb). The run database keeps the
// runs; a project only points at nothing but its own content, so it can be mailed around.
//
// Project tracks whether that content changed since it was last saved (the title's dirty marker),
// keeps an autosave copy while it is modified, and finds the autosave copies that a crashed
// workbench left behind (the recovery offer at the next start).
#include "softprompt/engine.h"

#include <QDateTime>
#include <QObject>
#include <QString>
#include <QStringList>

#include <optional>
#include <vector>

class QTimer;
class QUndoStack;

namespace spui {

class Session;
class TrainingPanel;

struct ProjectData {
    QString contextName; // where the context came from (an example's title, a file name); may be empty
    QString context;
    QString queryTemplate; // e.g. "User: {q}\nAssistant:"; empty = queries are used as typed
    std::vector<sp::Query> queries;
    QString trainingJson; // sp::TrainConfig::toJson(); empty = leave the panel as it is
    QString sweepKs;      // the sweep's k list, as typed
};

// The project file format: {"format": "softprompt-workbench-project", "version": 1, ...}.
QByteArray projectToJson(const ProjectData& data);
// Throws sp::Error naming `sourceName` and saying what to fix.
ProjectData projectFromJson(const QByteArray& json, const QString& sourceName);
void writeProjectFile(const QString& path, const ProjectData& data); // atomic; throws sp::Error
ProjectData readProjectFile(const QString& path);                    // throws sp::Error

// Autosave copies left by a workbench that did not exit (killed, crashed, power cut).
struct RecoveredWork {
    QString file;        // the autosave file, removed once the user answered the offer
    QString projectPath; // the project file the work belonged to; empty for an untitled project
    QDateTime savedAt;
    ProjectData data;
};

class Project : public QObject {
    Q_OBJECT
public:
    Project(Session* session, TrainingPanel* panel, QObject* parent = nullptr);
    ~Project() override; // a clean exit leaves no autosave copy behind

    QString path() const { return path_; }
    // The name for the title bar: the file's base name, or "Untitled".
    QString displayName() const;
    bool isModified() const { return modified_; }
    QUndoStack* undoStack() const { return undoStack_; }

    ProjectData capture() const;
    // Replaces the session's content (the context editor follows the session). The replaced query
    // set stays undoable.
    void apply(const ProjectData& data);

    bool save(QString* error = nullptr); // to path(); false when untitled (use saveAs)
    bool saveAs(const QString& path, QString* error = nullptr);
    bool open(const QString& path, QString* error = nullptr);
    // An empty, untitled, unmodified project (the training settings are kept).
    void clear();
    // Marks the current content as the saved state (an example just opened), or as changed.
    void setModified(bool modified);
    void setPath(const QString& path);

    static QStringList recentFiles();
    static void addRecentFile(const QString& path);

    // Autosave: while modified, the content is copied to autosaveFile() after each pause in editing.
    QString autosaveFile() const;
    void autosaveNow();
    void setAutosaveDelay(int milliseconds);
    static QString recoveryFolder();
    // Autosave copies whose process is gone, newest first.
    static std::vector<RecoveredWork> findRecoverableWork();

    // Switches tracking off while the window fills itself on start-up.
    void setTracking(bool on) { tracking_ = on; }

signals:
    void modifiedChanged(bool modified);
    void pathChanged(const QString& path);

private:
    void onContentChanged();
    void removeAutosave();

    Session* session_ = nullptr;
    TrainingPanel* panel_ = nullptr;
    QUndoStack* undoStack_ = nullptr;
    QTimer* autosaveTimer_ = nullptr;
    QString path_;
    bool modified_ = false;
    bool tracking_ = true;
    bool applying_ = false;
};

} // namespace spui
