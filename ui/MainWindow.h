#pragma once
// The workbench window: the model bar, one tab per task (context, queries, training with the live
// curve, per-query comparison, runs, sweeps, σ), menus with the standard shortcuts, and a status bar
// with the model, its parameter count and the device.
#include "softprompt/engine.h"

#include <QMainWindow>

#include <cstdint>
#include <vector>

class QTabWidget;
class QLabel;
class QCloseEvent;
class QMenu;

namespace spui {

struct ExampleInfo;

class Session;
class ModelBar;
class ContextEditor;
class QueryEditor;
class TrainingPanel;
class CurvePlot;
class CompareView;
class RunsBrowser;
class SweepView;
class SigmaInspector;
class Project;
class PlaygroundTab;
class CoveragePanel;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);
    ~MainWindow() override;

    // Opens the last model (the demo model on first start) and the last context and queries (a
    // shipped example on first start), so one click on Train shows a curve.
    void startUp();

    Session* session() const { return session_; }
    ModelBar* modelBar() const { return modelBar_; }
    ContextEditor* contextEditor() const { return contextEditor_; }
    QueryEditor* queryEditor() const { return queryEditor_; }
    TrainingPanel* trainingPanel() const { return trainingPanel_; }
    CurvePlot* curvePlot() const { return curvePlot_; }
    CompareView* compareView() const { return compareView_; }
    RunsBrowser* runsBrowser() const { return runsBrowser_; }
    SweepView* sweepView() const { return sweepView_; }
    SigmaInspector* sigmaInspector() const { return sigmaInspector_; }
    QTabWidget* tabs() const { return tabs_; }
    PlaygroundTab* playgroundTab() const { return playgroundTab_; }
    CoveragePanel* coveragePanel() const { return coveragePanel_; }

    // Tab keys: context, queries, train, compare, runs, sweep, sigma, playground.
    bool showTab(const QString& key);
    static QStringList tabKeys();
    bool openExample(const QString& name, QString* error = nullptr);

    // ---- the user's work (MainWindowProject.cpp) ----
    Project* project() const { return project_; }
    // When the project has unsaved changes, asks whether to save them, discard them or cancel
    // `action` (e.g. "open the example"); true when the caller may go on. Object name
    // "confirmReplaceBox".
    bool confirmReplacingWork(const QString& action);
    bool newProject();
    bool openProject(const QString& path, QString* error = nullptr);
    bool saveProject();   // Save As when untitled
    bool saveProjectAs(); // asks for a file
    // Opens a text file as the context of the current project (File › Open context, --context).
    bool openContextPath(const QString& path, QString* error = nullptr);
    // Offers the work a crashed workbench autosaved (non-modal box "recoveryOfferBox").
    void offerRecovery();

    bool exportPlotTo(const QString& path, QString* error = nullptr);
    bool exportReportTo(const QString& path, QString* error = nullptr); // .html or .pdf

protected:
    void closeEvent(QCloseEvent* event) override;
    void showEvent(QShowEvent* event) override;

private:
    void buildMenus();
    void buildProjectActions(QMenu* file);
    void buildEditMenu();
    void updateTitle();
    void restoreWorkFromRun(std::int64_t runId, const QString& context, const std::vector<sp::Query>& queries,
                            const sp::TrainConfig& config);
    void saveProjectSession() const;
    bool restoreProjectSession();
    void applySuggestedTraining(const ExampleInfo& example);
    void updateStatus();
    void onOutcome();
    void openContextFile();
    void exportPlotDialog();
    void exportReportDialog();
    void exportSigmaDialog(bool peft);
    void chooseDatabase();
    void showAbout();
    void saveState() const;
    void restoreSavedState();

    Session* session_ = nullptr;
    Project* project_ = nullptr;
    ModelBar* modelBar_ = nullptr;
    QTabWidget* tabs_ = nullptr;
    ContextEditor* contextEditor_ = nullptr;
    QueryEditor* queryEditor_ = nullptr;
    TrainingPanel* trainingPanel_ = nullptr;
    CurvePlot* curvePlot_ = nullptr;
    CompareView* compareView_ = nullptr;
    RunsBrowser* runsBrowser_ = nullptr;
    SweepView* sweepView_ = nullptr;
    SigmaInspector* sigmaInspector_ = nullptr;
    PlaygroundTab* playgroundTab_ = nullptr; // issue 21: the playground and the coverage map
    CoveragePanel* coveragePanel_ = nullptr;
    QLabel* modelLabel_ = nullptr;
    QLabel* deviceLabel_ = nullptr;
    QLabel* activityLabel_ = nullptr;
    bool closeWhenIdle_ = false;
    bool closeConfirmed_ = false;
};

} // namespace spui
