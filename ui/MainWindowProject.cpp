// The main window's handling of the user's work: project files, the dirty marker, the questions
// before unsaved work is replaced, undo, the last session and the recovery offer after a crash.
#include "ContextEditor.h"
#include "softprompt/train_config_json.h"
#include "Dialogs.h"
#include "HelpGuide.h"
#include "MainWindow.h"
#include "Project.h"
#include "QtConvert.h"
#include "QueryFiles.h"
#include "QueryTableModel.h"
#include "RunsBrowser.h"
#include "Session.h"
#include "TrainingPanel.h"
#include "softprompt/paths.h"

#include <QAction>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QPushButton>
#include <QSettings>
#include <QStandardPaths>
#include <QStatusBar>
#include <QUndoStack>

namespace spui {
namespace {

QString lastSessionFolder()
{
    return QDir(QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation))
        .filePath(QStringLiteral("softprompt-workbench/last-session"));
}

QString projectFilter()
{
    return QObject::tr("Workbench projects (*.spwb);;All files (*)");
}

} // namespace

void MainWindow::buildProjectActions(QMenu* file)
{
    QAction* newAction = file->addAction(tr("&New project"), this, [this] { newProject(); });
    newAction->setShortcut(QKeySequence::New);
    QAction* open = file->addAction(tr("&Open project…"), this, [this] {
        if (!confirmReplacingWork(tr("open another project")))
            return;
        const QString path = QFileDialog::getOpenFileName(
            this, tr("Open a project"), QSettings().value(QStringLiteral("paths/project")).toString(),
            projectFilter());
        if (path.isEmpty())
            return;
        QString error;
        if (!openProject(path, &error))
            showError(this, tr("Could not open the project"), error);
    });
    open->setShortcut(QKeySequence::Open);
    QMenu* recent = file->addMenu(tr("Open &recent"));
    recent->setObjectName(QStringLiteral("recentProjectsMenu"));
    connect(recent, &QMenu::aboutToShow, this, [this, recent] {
        recent->clear();
        const QStringList files = Project::recentFiles();
        if (files.isEmpty())
            recent->addAction(tr("(no recent projects)"))->setEnabled(false);
        for (const QString& path : files)
            recent->addAction(QDir::toNativeSeparators(path), this, [this, path] {
                if (!confirmReplacingWork(tr("open %1").arg(QFileInfo(path).fileName())))
                    return;
                QString error;
                if (!openProject(path, &error))
                    showError(this, tr("Could not open the project"), error);
            });
    });
    QAction* save = file->addAction(tr("&Save project"), this, [this] { saveProject(); });
    save->setShortcut(QKeySequence::Save);
    QAction* saveAs = file->addAction(tr("Save project &as…"), this, [this] { saveProjectAs(); });
    saveAs->setShortcut(QKeySequence::SaveAs);
    file->addSeparator();
}

void MainWindow::buildEditMenu()
{
    QMenu* edit = menuBar()->addMenu(tr("&Edit"));
    // The query set's history. The context editor keeps its own (Ctrl+Z while it has the focus).
    QAction* undo = project_->undoStack()->createUndoAction(this, tr("&Undo"));
    undo->setObjectName(QStringLiteral("undoAction"));
    undo->setShortcut(QKeySequence::Undo);
    QAction* redo = project_->undoStack()->createRedoAction(this, tr("&Redo"));
    redo->setObjectName(QStringLiteral("redoAction"));
    redo->setShortcut(QKeySequence::Redo);
    edit->addAction(undo);
    edit->addAction(redo);
}

void MainWindow::updateTitle()
{
    setWindowTitle(tr("%1[*] — SoftPrompt Workbench").arg(project_->displayName()));
    setWindowModified(project_->isModified());
}

bool MainWindow::confirmReplacingWork(const QString& action)
{
    if (!project_->isModified())
        return true;
    QMessageBox box(QMessageBox::Question, tr("Unsaved changes"),
                    tr("<b>%1 has unsaved changes</b> (context, queries or settings).<p>Save them before you "
                       "%2?")
                        .arg(project_->displayName().toHtmlEscaped(), action.toHtmlEscaped()),
                    QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel, this);
    box.setObjectName(QStringLiteral("confirmReplaceBox"));
    box.setDefaultButton(QMessageBox::Save);
    box.button(QMessageBox::Discard)->setText(tr("&Discard them"));
    switch (box.exec()) {
    case QMessageBox::Save:
        return saveProject();
    case QMessageBox::Discard:
        return true;
    default:
        return false;
    }
}

bool MainWindow::newProject()
{
    if (!confirmReplacingWork(tr("start a new project")))
        return false;
    project_->clear();
    showTab(QStringLiteral("context"));
    return true;
}

bool MainWindow::openProject(const QString& path, QString* error)
{
    if (!project_->open(path, error))
        return false;
    QSettings().setValue(QStringLiteral("paths/project"), QFileInfo(path).absolutePath());
    statusBar()->showMessage(tr("Opened %1").arg(QDir::toNativeSeparators(path)), 5000);
    return true;
}

bool MainWindow::saveProject()
{
    if (project_->path().isEmpty())
        return saveProjectAs();
    QString error;
    if (!project_->save(&error)) {
        showError(this, tr("Could not save the project"), error);
        return false;
    }
    statusBar()->showMessage(tr("Saved %1").arg(QDir::toNativeSeparators(project_->path())), 5000);
    return true;
}

bool MainWindow::saveProjectAs()
{
    QSettings settings;
    QString suggested = project_->path();
    if (suggested.isEmpty())
        suggested = QDir(settings.value(QStringLiteral("paths/project"), QDir::homePath()).toString())
                        .filePath(QStringLiteral("project.spwb"));
    QString path = QFileDialog::getSaveFileName(this, tr("Save the project"), suggested, projectFilter());
    if (path.isEmpty())
        return false;
    if (QFileInfo(path).suffix().isEmpty())
        path += QStringLiteral(".spwb");
    settings.setValue(QStringLiteral("paths/project"), QFileInfo(path).absolutePath());
    QString error;
    if (!project_->saveAs(path, &error)) {
        showError(this, tr("Could not save the project"), error);
        return false;
    }
    statusBar()->showMessage(tr("Saved %1").arg(QDir::toNativeSeparators(path)), 5000);
    return true;
}

bool MainWindow::openContextPath(const QString& path, QString* error)
{
    if (!contextEditor_->openFile(path, error))
        return false;
    showTab(QStringLiteral("context"));
    return true;
}

void MainWindow::restoreWorkFromRun(std::int64_t runId, const QString& context,
                                    const std::vector<sp::Query>& queries, const sp::TrainConfig& config)
{
    if (!confirmReplacingWork(tr("restore run %1's context and queries").arg(runId)))
        return;
    ProjectData data = project_->capture();
    data.context = context;
    data.contextName = tr("context of run %1").arg(runId);
    data.queries = queries;
    data.trainingJson = toQ(sp::trainConfigToJson(config).dump());
    project_->apply(data);
    showTab(QStringLiteral("context"));
    statusBar()->showMessage(tr("Restored run %1's context, %n query(s) and settings. Edit › Undo brings the "
                                "previous queries back.",
                                nullptr, int(queries.size()))
                                 .arg(runId),
                             8000);
}

void MainWindow::offerRecovery()
{
    const std::vector<RecoveredWork> found = Project::findRecoverableWork();
    if (found.empty())
        return;
    const RecoveredWork work = found.front();
    const QString where = work.projectPath.isEmpty() ? tr("an untitled project")
                                                     : QDir::toNativeSeparators(work.projectPath);
    auto* box = new QMessageBox(
        QMessageBox::Warning, tr("Recover unsaved work?"),
        tr("<b>The workbench did not close properly.</b> Unsaved work in %1 was autosaved at %2: a context of "
           "%3 characters (%4) and %n query(s).<p>Recover it? Discarding deletes the autosaved copy.",
           nullptr, int(work.data.queries.size()))
            .arg(where.toHtmlEscaped(), QLocale().toString(work.savedAt.toLocalTime(), QLocale::ShortFormat))
            .arg(work.data.context.size())
            .arg((work.data.contextName.isEmpty() ? tr("unnamed") : work.data.contextName).toHtmlEscaped()),
        QMessageBox::NoButton, this);
    box->setObjectName(QStringLiteral("recoveryOfferBox"));
    box->setAttribute(Qt::WA_DeleteOnClose);
    QPushButton* recover = box->addButton(tr("&Recover"), QMessageBox::AcceptRole);
    recover->setObjectName(QStringLiteral("recoverButton"));
    QPushButton* discard = box->addButton(tr("&Discard"), QMessageBox::DestructiveRole);
    discard->setObjectName(QStringLiteral("discardRecoveryButton"));
    box->setDefaultButton(recover);
    connect(box, &QMessageBox::buttonClicked, this, [this, work, recover](QAbstractButton* clicked) {
        if (clicked == recover) {
            project_->apply(work.data);
            project_->setPath(work.projectPath);
            project_->setModified(true);
            project_->autosaveNow(); // this process's copy replaces the crashed one's
            statusBar()->showMessage(tr("Recovered the unsaved work; save it with File › Save project."), 8000);
        }
        QFile::remove(work.file);
    });
    box->setWindowModality(Qt::WindowModal);
    box->open();
}

void MainWindow::saveProjectSession() const
{
    // Quitting keeps unsaved work: the next start opens it as it was, still marked unsaved.
    const QDir folder(lastSessionFolder());
    if (!QDir().mkpath(folder.path()))
        return;
    try {
        writeProjectFile(folder.filePath(QStringLiteral("project.json")), project_->capture());
        QSettings settings;
        settings.setValue(QStringLiteral("session/projectPath"), project_->path());
        settings.setValue(QStringLiteral("session/modified"), project_->isModified());
    } catch (const std::exception&) {
        // Losing the scratch copy of the last session is harmless when the project is saved, and the
        // autosave copy of unsaved work is only removed after a successful exit.
    }
}

bool MainWindow::restoreProjectSession()
{
    const QDir folder(lastSessionFolder());
    const QString file = folder.filePath(QStringLiteral("project.json"));
    QSettings settings;
    try {
        if (QFileInfo::exists(file)) {
            project_->apply(readProjectFile(file));
        } else if (QFileInfo::exists(folder.filePath(QStringLiteral("context.txt")))) {
            // The last session of a version without projects.
            ProjectData data;
            data.context = toQ(sp::readTextFile(toStd(folder.filePath(QStringLiteral("context.txt")))));
            data.contextName = settings.value(QStringLiteral("session/contextName")).toString();
            if (QFileInfo::exists(folder.filePath(QStringLiteral("queries.jsonl"))))
                data.queries = readQueryJsonl(folder.filePath(QStringLiteral("queries.jsonl")), false);
            project_->apply(data);
        } else {
            return false;
        }
    } catch (const std::exception&) {
        return false;
    }
    const QString path = settings.value(QStringLiteral("session/projectPath")).toString();
    project_->setPath(QFileInfo::exists(path) ? path : QString());
    project_->setModified(settings.value(QStringLiteral("session/modified"), false).toBool());
    return !session_->context().isEmpty();
}

} // namespace spui
