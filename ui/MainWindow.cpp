#include "MainWindow.h"

#include "CompareView.h"
#include "ContextEditor.h"
#include "CoverageMap.h"
#include "CurvePlot.h"
#include "Dialogs.h"
#include "Examples.h"
#include "HelpGuide.h"
#include "ModelBar.h"
#include "PlaygroundTab.h"
#include "PlotExport.h"
#include "Project.h"
#include "QtConvert.h"
#include "QueryEditor.h"
#include "QueryFiles.h"
#include "QueryTableModel.h"
#include "ReportExporter.h"
#include "RunsBrowser.h"
#include "RunsModel.h"
#include "Session.h"
#include "SigmaInspector.h"
#include "SweepView.h"
#include "TrainingPanel.h"
#include "softprompt/paths.h"
#include "softprompt/run_recording.h"
#include "softprompt/version.h"

#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenuBar>
#include <QPlainTextEdit>
#include <QSettings>
#include <QShowEvent>
#include <QSplitter>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTabWidget>
#include <QTimer>
#include <QToolBar>
#include <qcustomplot.h>

namespace spui {
namespace {

struct TabKey {
    const char* key;
    const char* title;
};
// Marked for lupdate in MainWindow's context, where tr() translates them.
const TabKey kTabs[] = {{"context", QT_TRANSLATE_NOOP("spui::MainWindow", "&Context")},
                        {"queries", QT_TRANSLATE_NOOP("spui::MainWindow", "&Queries")},
                        {"train", QT_TRANSLATE_NOOP("spui::MainWindow", "&Train")},
                        {"compare", QT_TRANSLATE_NOOP("spui::MainWindow", "C&ompare")},
                        {"runs", QT_TRANSLATE_NOOP("spui::MainWindow", "R&uns")},
                        {"sweep", QT_TRANSLATE_NOOP("spui::MainWindow", "S&weep")},
                        {"sigma", QT_TRANSLATE_NOOP("spui::MainWindow", "σ &inspector")},
                        {"playground", QT_TRANSLATE_NOOP("spui::MainWindow", "Pla&yground")}};

} // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent)
{
    setObjectName(QStringLiteral("mainWindow"));
    setWindowTitle(tr("SoftPrompt Workbench"));
    session_ = new Session(this);

    modelBar_ = new ModelBar(session_, this);
    auto* toolbar = addToolBar(tr("Model"));
    toolbar->setObjectName(QStringLiteral("modelToolBar"));
    toolbar->setMovable(false);
    toolbar->addWidget(modelBar_);

    contextEditor_ = new ContextEditor(session_, this);
    queryEditor_ = new QueryEditor(session_, this);
    trainingPanel_ = new TrainingPanel(session_, this);
    curvePlot_ = new CurvePlot(this);
    compareView_ = new CompareView(session_, this);
    runsBrowser_ = new RunsBrowser(session_, this);
    sweepView_ = new SweepView(session_, runsBrowser_->model(), this);
    sigmaInspector_ = new SigmaInspector(session_, this);

    auto* trainPage = new QSplitter(Qt::Horizontal, this);
    trainPage->setObjectName(QStringLiteral("trainSplitter"));
    trainPage->addWidget(trainingPanel_);
    trainPage->addWidget(curvePlot_);
    trainPage->setStretchFactor(0, 0);
    trainPage->setStretchFactor(1, 1);
    trainingPanel_->setMinimumWidth(330);
    trainingPanel_->setMaximumWidth(460);

    tabs_ = new QTabWidget(this);
    tabs_->setObjectName(QStringLiteral("mainTabs"));
    tabs_->setDocumentMode(true);
    // The playground tab, and the coverage map beside the context editor (issue 21).
    playgroundTab_ = new PlaygroundTab(session_, this);
    auto* contextPage = new QSplitter(Qt::Horizontal, this);
    contextPage->setObjectName(QStringLiteral("contextSplitter"));
    contextPage->addWidget(contextEditor_);
    coveragePanel_ =
        new CoveragePanel(session_, contextEditor_->findChild<QPlainTextEdit*>(QStringLiteral("contextEdit")), this);
    coveragePanel_->setConfigProvider([this] { return trainingPanel_->config(); });
    contextPage->addWidget(coveragePanel_);
    contextPage->setStretchFactor(0, 3);
    contextPage->setStretchFactor(1, 2);

    QWidget* pages[] = {contextPage,  queryEditor_, trainPage,       compareView_,
                        runsBrowser_, sweepView_,   sigmaInspector_, playgroundTab_};
    for (size_t i = 0; i < std::size(kTabs); ++i) {
        pages[i]->setProperty("tabKey", QLatin1String(kTabs[i].key));
        tabs_->addTab(pages[i], tr(kTabs[i].title));
    }
    setCentralWidget(tabs_);
    connect(tabs_, &QTabWidget::currentChanged, this, [this] {
        if (tabs_->currentWidget() == runsBrowser_)
            runsBrowser_->refresh();
        if (tabs_->currentWidget() == sweepView_)
            sweepView_->refresh();
    });

    modelLabel_ = new QLabel(this);
    modelLabel_->setObjectName(QStringLiteral("modelLabel"));
    deviceLabel_ = new QLabel(this);
    deviceLabel_->setObjectName(QStringLiteral("deviceLabel"));
    activityLabel_ = new QLabel(this);
    activityLabel_->setObjectName(QStringLiteral("activityLabel"));
    statusBar()->addWidget(activityLabel_, 1);
    statusBar()->addPermanentWidget(modelLabel_);
    statusBar()->addPermanentWidget(deviceLabel_);

    // Training: the plot follows the worker; the panel tells it the objective's direction.
    TrainingWorker* worker = session_->worker();
    connect(trainingPanel_, &TrainingPanel::objectiveChanged, curvePlot_, &CurvePlot::setObjective);
    connect(trainingPanel_, &TrainingPanel::aboutToStart, this, [this](const sp::TrainConfig& config) {
        const sp::ObjectiveInfo& info = sp::objectiveInfo(config.objective);
        curvePlot_->setObjective(toQ(info.label), info.higherIsBetter);
    });
    connect(trainingPanel_, &TrainingPanel::startRefused, this, [this](const QString& message) {
        showMessage(this, QMessageBox::Information, tr("Cannot start training"), message);
    });
    connect(worker, &TrainingWorker::runStarted, curvePlot_, [this] { curvePlot_->clear(); });
    connect(worker, &TrainingWorker::stepReported, curvePlot_, &CurvePlot::addStep);
    connect(worker, &TrainingWorker::baselinesReady, curvePlot_, [this](const sp::Evaluation& baselines) {
        const auto& aggregates = baselines.heldout.empty() ? baselines.train : baselines.heldout;
        std::vector<BaselineLine> lines;
        for (sp::Condition condition : {sp::Condition::FullContext, sp::Condition::NoContext,
                                        sp::Condition::FirstK, sp::Condition::LastK})
            if (const sp::ConditionAggregate* aggregate = findAggregate(aggregates, condition))
                lines.push_back({condition, aggregate->s.mean, aggregate->top1Agreement.mean});
        curvePlot_->setBaselines(lines);
    });
    connect(runsBrowser_, &RunsBrowser::configLoadRequested, this, [this](const sp::TrainConfig& config) {
        trainingPanel_->setConfig(config);
        showTab(QStringLiteral("train"));
        statusBar()->showMessage(tr("Settings loaded from the run; press Train to run them again."), 5000);
    });
    connect(runsBrowser_, &RunsBrowser::outcomeOpened, this, [this] { showTab(QStringLiteral("compare")); });
    connect(runsBrowser_, &RunsBrowser::workRestoreRequested, this, &MainWindow::restoreWorkFromRun);
    connect(contextEditor_, &ContextEditor::openFileRequested, this, &MainWindow::openContextFile);

    project_ = new Project(session_, trainingPanel_, this);
    connect(project_, &Project::modifiedChanged, this, &MainWindow::updateTitle);
    connect(project_, &Project::pathChanged, this, &MainWindow::updateTitle);
    updateTitle();
    // The over-long warning's threshold: the teacher reads context + query + its continuation, so
    // the longest query and L tokens must fit next to the context.
    auto* reserveTimer = new QTimer(this);
    reserveTimer->setSingleShot(true);
    reserveTimer->setInterval(300);
    connect(reserveTimer, &QTimer::timeout, this, [this] {
        const sp::Tokenizer* tokenizer = session_->tokenizer();
        if (!tokenizer)
            return;
        std::size_t longest = 0;
        for (const sp::Query& query : session_->queries()->queries())
            longest = std::max(longest, tokenizer->encode(query.text).size());
        const sp::TrainConfig config = trainingPanel_->config();
        const int continuation =
            config.target == sp::TargetKind::Continuation ? config.continuationLength : 1;
        contextEditor_->setReservedTokens(int(longest) + continuation + 2); // + BOS and a margin
    });
    auto scheduleReserve = [reserveTimer] { reserveTimer->start(); };
    connect(session_->queries(), &QueryTableModel::queriesChanged, this, scheduleReserve);
    connect(session_, &Session::modelChanged, this, scheduleReserve);

    // Errors come from the worker's own report, not from outcomeChanged: opening an old failed run
    // in the runs browser is not a new failure.
    connect(worker, &TrainingWorker::trainingFinished, this, &MainWindow::onOutcome, Qt::QueuedConnection);
    connect(session_, &Session::modelChanged, this, &MainWindow::updateStatus);
    connect(session_, &Session::activityChanged, this, [this] {
        updateStatus();
        if (closeWhenIdle_ && !session_->isBusy())
            close();
    });

    buildMenus();
    updateStatus();
    resize(1280, 820);
}

MainWindow::~MainWindow() = default;

QStringList MainWindow::tabKeys()
{
    QStringList keys;
    for (const TabKey& tab : kTabs)
        keys << QLatin1String(tab.key);
    return keys;
}

bool MainWindow::showTab(const QString& key)
{
    for (int i = 0; i < tabs_->count(); ++i)
        if (tabs_->widget(i)->property("tabKey").toString() == key) {
            tabs_->setCurrentIndex(i);
            return true;
        }
    return false;
}

void MainWindow::buildMenus()
{
    QMenu* file = menuBar()->addMenu(tr("&File"));
    buildProjectActions(file);
    file->addAction(tr("Open &context…"), this, &MainWindow::openContextFile);
    QAction* openModel =
        file->addAction(tr("Open Hugging Face &model folder…"), modelBar_, &ModelBar::openFolderDialog);
    openModel->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
    QMenu* examples = file->addMenu(tr("Open &example"));
    connect(examples, &QMenu::aboutToShow, this, [this, examples] {
        examples->clear();
        const std::vector<ExampleInfo> list = listExamples();
        if (list.empty())
            examples->addAction(tr("(no examples found)"))->setEnabled(false);
        for (const ExampleInfo& example : list)
            examples->addAction(example.title, this, [this, name = example.name, title = example.title] {
                if (!confirmReplacingWork(tr("open the example \"%1\"").arg(title)))
                    return;
                QString error;
                if (!openExample(name, &error))
                    showError(this, tr("Could not open the example"), error);
            });
    });
    file->addSeparator();
    file->addAction(tr("Import training queries…"), queryEditor_,
                    [this] { queryEditor_->importWithDialog(false); });
    file->addAction(tr("Import held-out queries…"), queryEditor_,
                    [this] { queryEditor_->importWithDialog(true); });
    file->addAction(tr("Export queries…"), queryEditor_, &QueryEditor::exportWithDialog);
    file->addSeparator();
    QAction* exportPlot =
        file->addAction(tr("Export &plot (PNG, PDF, SVG)…"), this, &MainWindow::exportPlotDialog);
    exportPlot->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_E));
    QAction* report =
        file->addAction(tr("Export stakeholder &report (HTML, PDF)…"), this, &MainWindow::exportReportDialog);
    report->setShortcut(QKeySequence::Print);
    file->addAction(tr("Export σ as safe&tensors…"), this, [this] { exportSigmaDialog(false); });
    file->addAction(tr("Export σ as PEFT &adapter…"), this, [this] { exportSigmaDialog(true); });
    file->addSeparator();
    QAction* database = file->addAction(tr("Run &database…"), this, &MainWindow::chooseDatabase);
    database->setShortcut(QKeySequence::Preferences);
    file->addSeparator();
    QAction* quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

    buildEditMenu();

    QMenu* run = menuBar()->addMenu(tr("&Run"));
    run->addAction(tr("&Train σ"), trainingPanel_, &TrainingPanel::start);
    // Ctrl+P is Print (the report); one key sequence, one action.
    run->addAction(tr("&Pause / resume"), trainingPanel_, &TrainingPanel::togglePause)
        ->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_P));
    run->addAction(tr("&Stop"), trainingPanel_, &TrainingPanel::stop);
    run->addAction(tr("Compression s&weep"), trainingPanel_, &TrainingPanel::startSweep);

    QMenu* view = menuBar()->addMenu(tr("&View"));
    for (int i = 0; i < int(std::size(kTabs)); ++i) {
        QString title = tr(kTabs[i].title);
        title.remove(QLatin1Char('&'));
        QAction* action = view->addAction(title, this, [this, i] { tabs_->setCurrentIndex(i); });
        action->setShortcut(QKeySequence(Qt::ALT | Qt::Key(Qt::Key_1 + i)));
    }

    QMenu* help = menuBar()->addMenu(tr("&Help"));
    QAction* guide = help->addAction(tr("Workflow &guide"), this, [this] { showWorkflowGuide(this); });
    guide->setObjectName(QStringLiteral("workflowGuideAction"));
    guide->setShortcut(QKeySequence::HelpContents);
    help->addAction(tr("&About"), this, &MainWindow::showAbout);
}

void MainWindow::updateStatus()
{
    const sp::BuildInfo info = sp::buildInfo();
    const QString runtime =
        tr("LibTorch %1, %2")
            .arg(toQ(info.torchVersion), info.cudaAvailable
                                             ? tr("%n CUDA device(s)", nullptr, info.cudaDeviceCount)
                                             : tr("CPU only, %n thread(s)", nullptr, info.cpuThreads));
    if (session_->hasModel()) {
        const sp::ModelSummary& summary = session_->model().summary();
        modelLabel_->setText(tr("%1 · %2 · %3 parameters · %4-token window")
                                 .arg(toQ(summary.name), toQ(summary.modelType))
                                 .arg(humanCount(double(summary.parameterCount)))
                                 .arg(summary.contextWindow));
        deviceLabel_->setText(
            tr("Device: %1 · %2 · %3").arg(toQ(summary.device), toQ(summary.dtype), runtime));
    } else {
        modelLabel_->setText(tr("no model loaded"));
        deviceLabel_->setText(tr("Device: – · %1").arg(runtime));
    }
    switch (session_->activity()) {
    case Session::Activity::Idle:
        activityLabel_->setText(tr("Ready"));
        break;
    case Session::Activity::LoadingModel:
        activityLabel_->setText(tr("Loading the model…"));
        break;
    case Session::Activity::Training:
        activityLabel_->setText(tr("Training σ…"));
        break;
    case Session::Activity::FillingTargets:
        activityLabel_->setText(tr("Computing the teacher's continuations…"));
        break;
    }
}

void MainWindow::onOutcome()
{
    const TrainingOutcome& outcome = session_->lastOutcome();
    if (closeWhenIdle_)
        return;
    if (outcome.status == sp::RunStatus::Failed) {
        showError(
            this, tr("Training failed"),
            tr("%1%2").arg(outcome.message, outcome.result.stepsCompleted > 0
                                                ? tr("\n\nThe last good σ (step %1) is kept with the run.")
                                                      .arg(outcome.result.stepsCompleted)
                                                : QString()));
    } else if (!outcome.storeWarning.isEmpty()) {
        showError(this, tr("The run was not fully saved"),
                  tr("%1\n\nChoose another run database under File › Run database, or free disk space.")
                      .arg(outcome.storeWarning));
    }
}

void MainWindow::startUp()
{
    project_->setTracking(false); // filling the window is not an edit
    restoreSavedState();
    QSettings settings;
    const bool firstStart = !settings.contains(QStringLiteral("session/started"));
    settings.setValue(QStringLiteral("session/started"), true);
    modelBar_->setOptions(
        settings.value(QStringLiteral("model/device"), QStringLiteral("cpu")).toString(),
        settings.value(QStringLiteral("model/dtype"), QStringLiteral("float32")).toString());
    const QString source =
        firstStart ? QStringLiteral("demo")
                   : settings.value(QStringLiteral("model/source"), QStringLiteral("demo")).toString();
    modelBar_->load(source);
    if (firstStart || !restoreProjectSession()) {
        const std::vector<ExampleInfo> examples = listExamples();
        if (!examples.empty())
            openExample(examples.front().name);
    }
    project_->undoStack()->clear();
    project_->setTracking(true);
    runsBrowser_->reopenStore();
    // After the window is up: the offer is a box over it.
    QTimer::singleShot(0, this, &MainWindow::offerRecovery);
}

bool MainWindow::openExample(const QString& name, QString* error)
{
    for (const ExampleInfo& example : listExamples()) {
        if (example.name != name)
            continue;
        try {
            ExampleContent content = loadExample(example);
            contextEditor_->setText(content.context, example.title);
            session_->queries()->setQueries(std::move(content.queries));
            applySuggestedTraining(example);
            // A new, untitled project whose saved state is the example: nothing to lose yet.
            project_->setPath(QString());
            project_->setModified(false);
            return true;
        } catch (const std::exception& e) {
            if (error)
                *error = toQ(e.what());
            return false;
        }
    }
    if (error)
        *error = tr("There is no example called \"%1\".").arg(name);
    return false;
}

void MainWindow::applySuggestedTraining(const ExampleInfo& example)
{
    if (example.suggestedTarget.isEmpty() && example.suggestedSteps <= 0)
        return;
    sp::TrainConfig config = trainingPanel_->config();
    if (!example.suggestedTarget.isEmpty()) {
        try {
            config.target = sp::targetKindFromKey(toStd(example.suggestedTarget));
        } catch (const std::exception&) {
            return; // an index from a newer version: keep the panel as it is
        }
    }
    if (example.suggestedLength > 0)
        config.continuationLength = example.suggestedLength;
    if (example.suggestedSteps > 0)
        config.steps = example.suggestedSteps;
    trainingPanel_->setConfig(config);
    // The panel's (and the CLI's) defaults are TrainConfig's; say where these differ from them.
    const sp::TrainConfig defaults;
    statusBar()->showMessage(tr("The example's settings: %1 target, L = %2, %3 steps (defaults, as in the CLI: %4, "
                                "L = %5, %6 steps).")
                                 .arg(toQ(sp::targetKindKey(config.target)))
                                 .arg(config.continuationLength)
                                 .arg(config.steps)
                                 .arg(toQ(sp::targetKindKey(defaults.target)))
                                 .arg(defaults.continuationLength)
                                 .arg(defaults.steps),
                             10000);
}

void MainWindow::openContextFile()
{
    if (!confirmReplacingWork(tr("open another context")))
        return;
    QSettings settings;
    const QString path = QFileDialog::getOpenFileName(
        this, tr("Open a context"), settings.value(QStringLiteral("paths/context")).toString(),
        tr("Text files (*.txt *.md);;All files (*)"));
    if (path.isEmpty())
        return;
    settings.setValue(QStringLiteral("paths/context"), path);
    QString error;
    if (!openContextPath(path, &error))
        showError(this, tr("Could not open the context"), error);
}

bool MainWindow::exportPlotTo(const QString& path, QString* error)
{
    try {
        exportPlot(curvePlot_->plot(), path, 1000, 600);
        return true;
    } catch (const std::exception& e) {
        if (error)
            *error = toQ(e.what());
        return false;
    }
}

bool MainWindow::exportReportTo(const QString& path, QString* error)
{
    ReportInputs inputs;
    inputs.session = session_;
    const bool pdf = QFileInfo(path).suffix().compare(QLatin1String("pdf"), Qt::CaseInsensitive) == 0;
    // On paper the curve is about 14 cm wide: lay it out for that width (its labels stay legible)
    // and render it at twice the resolution so it prints sharply.
    inputs.curve = pdf ? curvePlot_->plot()->toPixmap(720, 420, 2.0).toImage()
                       : curvePlot_->plot()->toPixmap(1000, 560, 1.0).toImage();
    if (const sp::CoverageMap* coverage = coveragePanel_->map())
        inputs.coverageHtml = coverageReportHtml(*coverage, coveragePanel_->sigmaRun());
    try {
        if (pdf)
            writeReportPdf(path, inputs);
        else
            writeReportHtml(path, inputs);
        return true;
    } catch (const std::exception& e) {
        if (error)
            *error = toQ(e.what());
        return false;
    }
}

void MainWindow::exportPlotDialog()
{
    QSettings settings;
    const QString path = QFileDialog::getSaveFileName(
        this, tr("Export the training curve"),
        QDir(settings.value(QStringLiteral("paths/export"), QDir::homePath()).toString())
            .filePath(QStringLiteral("curve.png")),
        plotFileFilter());
    if (path.isEmpty())
        return;
    settings.setValue(QStringLiteral("paths/export"), QFileInfo(path).absolutePath());
    QString error;
    if (!exportPlotTo(path, &error))
        showError(this, tr("Could not export the plot"), error);
}

void MainWindow::exportReportDialog()
{
    QSettings settings;
    const QString path = QFileDialog::getSaveFileName(
        this, tr("Export a stakeholder report"),
        QDir(settings.value(QStringLiteral("paths/export"), QDir::homePath()).toString())
            .filePath(QStringLiteral("report.html")),
        tr("HTML page (*.html);;PDF document (*.pdf)"));
    if (path.isEmpty())
        return;
    settings.setValue(QStringLiteral("paths/export"), QFileInfo(path).absolutePath());
    QString error;
    if (!exportReportTo(path, &error))
        showError(this, tr("Could not export the report"), error);
    else
        statusBar()->showMessage(tr("Report written to %1").arg(path), 8000);
}

void MainWindow::exportSigmaDialog(bool peft)
{
    if (!session_->hasOutcome() || session_->lastOutcome().runId <= 0) {
        showMessage(
            this, QMessageBox::Information, tr("No saved σ"),
            tr("Train σ first (or open a run on the Runs tab); σ is exported from the run database."));
        return;
    }
    runsBrowser_->refresh();
    runsBrowser_->selectRuns({session_->lastOutcome().runId});
    runsBrowser_->exportSigma(peft);
}

void MainWindow::chooseDatabase()
{
    const QString path = QFileDialog::getSaveFileName(
        this, tr("Run database (shared with the softprompt CLI)"), session_->databasePath(),
        tr("SQLite databases (*.sqlite *.db)"), nullptr, QFileDialog::DontConfirmOverwrite);
    if (path.isEmpty())
        return;
    session_->setDatabasePath(path);
    QSettings().setValue(QStringLiteral("store/path"), path);
}

void MainWindow::showAbout()
{
    const sp::BuildInfo info = sp::buildInfo();
    QMessageBox::about(this, tr("About SoftPrompt Workbench"),
                       tr("<b>SoftPrompt Workbench %1</b><p>Compress long prompts into learned soft prompts."
                          "<p>LibTorch %2, CUDA %3.<p>Runs are kept in %4")
                           .arg(QString::fromStdString(info.projectVersion),
                                QString::fromStdString(info.torchVersion),
                                info.cudaAvailable ? tr("available") : tr("not available"),
                                session_->databasePath().toHtmlEscaped()));
}

void MainWindow::showEvent(QShowEvent* event)
{
    QMainWindow::showEvent(event);
    // QStatusBar hides its normal widgets (the activity label) for a message only when they are
    // visible. The first example opens, and says which settings it applied, before the window is
    // shown: showing that message again now hides the label, which was otherwise drawn over it
    // (cleared first: showMessage does nothing for the message it already shows). Only then: a
    // window restored from the task bar keeps its message's own timeout.
    const QString message = statusBar()->currentMessage();
    if (!message.isEmpty() && activityLabel_->isVisible()) {
        statusBar()->clearMessage();
        statusBar()->showMessage(message, 10000);
    }
}

void MainWindow::closeEvent(QCloseEvent* event)
{
    if (session_->activity() == Session::Activity::Training && !closeConfirmed_) {
        event->ignore();
        auto* box =
            new QMessageBox(QMessageBox::Question, tr("Stop training and quit?"),
                            tr("σ is still being trained. Stop the run and quit? What was trained so far "
                               "is kept in the run database as a cancelled run."),
                            QMessageBox::Yes | QMessageBox::No, this);
        box->setObjectName(QStringLiteral("confirmCloseBox"));
        box->setAttribute(Qt::WA_DeleteOnClose);
        box->setDefaultButton(QMessageBox::No);
        connect(box, &QMessageBox::finished, this, [this](int result) {
            if (result != QMessageBox::Yes)
                return;
            closeConfirmed_ = true;
            closeWhenIdle_ = true;
            activityLabel_->setText(tr("Stopping the run before quitting…"));
            session_->abandon();
        });
        box->open();
        return;
    }
    if (session_->isBusy()) {
        // Loading a model or filling targets cannot be interrupted mid-call; quit as soon as it ends.
        event->ignore();
        closeWhenIdle_ = true;
        session_->abandon();
        return;
    }
    saveState();
    event->accept();
}

void MainWindow::saveState() const
{
    QSettings settings;
    settings.setValue(QStringLiteral("window/geometry"), saveGeometry());
    settings.setValue(QStringLiteral("window/state"), QMainWindow::saveState());
    settings.setValue(QStringLiteral("window/tab"), tabs_->currentIndex());
    if (session_->hasModel())
        settings.setValue(QStringLiteral("model/source"), session_->modelSource());
    const sp::ModelLoadOptions options = modelBar_->options();
    settings.setValue(QStringLiteral("model/device"), toQ(options.device));
    settings.setValue(QStringLiteral("model/dtype"), toQ(options.dtype));
    settings.setValue(QStringLiteral("plot/logScale"), curvePlot_->logScale());
    trainingPanel_->saveSettings();
    saveProjectSession();
}

void MainWindow::restoreSavedState()
{
    QSettings settings;
    restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray());
    QMainWindow::restoreState(settings.value(QStringLiteral("window/state")).toByteArray());
    tabs_->setCurrentIndex(settings.value(QStringLiteral("window/tab"), 2).toInt());
    // Divergences span orders of magnitude (no context vs a trained σ): log scale by default.
    curvePlot_->setLogScale(settings.value(QStringLiteral("plot/logScale"), true).toBool());
    trainingPanel_->restoreSettings();
    const QString database = settings.value(QStringLiteral("store/path")).toString();
    if (!database.isEmpty())
        session_->setDatabasePath(database);
}

} // namespace spui
