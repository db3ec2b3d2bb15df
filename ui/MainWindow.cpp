#include "MainWindow.h"

#include "CompareView.h"
#include "ContextEditor.h"
#include "CurvePlot.h"
#include "Dialogs.h"
#include "Examples.h"
#include "ModelBar.h"
#include "PlotExport.h"
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
#include <QSettings>
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
const TabKey kTabs[] = {{"context", "&Context"},  {"queries", "&Queries"}, {"train", "&Train"},
                        {"compare", "C&ompare"},  {"runs", "&Runs"},       {"sweep", "S&weep"},
                        {"sigma", "σ &inspector"}};

QString sessionFolder()
{
    return QDir(QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation))
        .filePath(QStringLiteral("softprompt-workbench/last-session"));
}

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
    QWidget* pages[] = {contextEditor_, queryEditor_, trainPage,      compareView_,
                        runsBrowser_,   sweepView_,   sigmaInspector_};
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
    connect(contextEditor_, &ContextEditor::openFileRequested, this, &MainWindow::openContextFile);
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
    QAction* openContext = file->addAction(tr("&Open context…"), this, &MainWindow::openContextFile);
    openContext->setShortcut(QKeySequence::Open);
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
            examples->addAction(example.title, this, [this, name = example.name] {
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

    QMenu* run = menuBar()->addMenu(tr("&Run"));
    run->addAction(tr("&Train σ"), trainingPanel_, &TrainingPanel::start);
    run->addAction(tr("&Pause / resume"), trainingPanel_, &TrainingPanel::togglePause)
        ->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_P));
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
    if (firstStart || !restoreSessionContent()) {
        const std::vector<ExampleInfo> examples = listExamples();
        if (!examples.empty())
            openExample(examples.front().name);
    }
    runsBrowser_->reopenStore();
}

bool MainWindow::openExample(const QString& name, QString* error)
{
    for (const ExampleInfo& example : listExamples()) {
        if (example.name != name)
            continue;
        try {
            ExampleContent content = loadExample(example);
            session_->setContextName(example.title);
            contextEditor_->setText(content.context, example.title);
            session_->queries()->setQueries(std::move(content.queries));
            applySuggestedTraining(example);
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
}

void MainWindow::openContextFile()
{
    QSettings settings;
    const QString path = QFileDialog::getOpenFileName(
        this, tr("Open a context"), settings.value(QStringLiteral("paths/context")).toString(),
        tr("Text files (*.txt *.md);;All files (*)"));
    if (path.isEmpty())
        return;
    settings.setValue(QStringLiteral("paths/context"), path);
    QString error;
    if (!contextEditor_->openFile(path, &error))
        showError(this, tr("Could not open the context"), error);
    else
        showTab(QStringLiteral("context"));
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
    inputs.curve = curvePlot_->plot()->toPixmap(1000, 560, 1.0).toImage();
    try {
        if (QFileInfo(path).suffix().compare(QLatin1String("pdf"), Qt::CaseInsensitive) == 0)
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

void MainWindow::closeEvent(QCloseEvent* event)
{
    if (session_->activity() == Session::Activity::Training && !closeConfirmed_) {
        event->ignore();
        auto* box =
            new QMessageBox(QMessageBox::Question, tr("Stop training and quit?"),
                            tr("σ is still being trained. Stop the run and quit? What was trained so far "
                               "is kept in the run database as a stopped run."),
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
    saveSessionContent();
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

void MainWindow::saveSessionContent() const
{
    const QDir folder(sessionFolder());
    if (!QDir().mkpath(folder.path()))
        return;
    try {
        sp::writeTextFile(toStd(folder.filePath(QStringLiteral("context.txt"))), toStd(session_->context()));
        writeQueryJsonl(folder.filePath(QStringLiteral("queries.jsonl")), session_->queries()->queries());
        QSettings().setValue(QStringLiteral("session/contextName"), session_->contextName());
    } catch (const std::exception&) {
        // Losing the scratch copy of the last session is harmless: the runs are in the database.
    }
}

bool MainWindow::restoreSessionContent()
{
    const QDir folder(sessionFolder());
    if (!QFileInfo::exists(folder.filePath(QStringLiteral("context.txt"))))
        return false;
    try {
        const QString name = QSettings().value(QStringLiteral("session/contextName")).toString();
        contextEditor_->setText(toQ(sp::readTextFile(toStd(folder.filePath(QStringLiteral("context.txt"))))),
                                name);
        if (QFileInfo::exists(folder.filePath(QStringLiteral("queries.jsonl"))))
            session_->queries()->setQueries(
                readQueryJsonl(folder.filePath(QStringLiteral("queries.jsonl")), false));
        return !session_->context().isEmpty();
    } catch (const std::exception&) {
        return false;
    }
}

} // namespace spui
