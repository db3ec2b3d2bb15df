#include "TrainingPanel.h"
#include "softprompt/train_config_json.h"

#include "QtConvert.h"
#include "Session.h"

#include <QComboBox>
#include <QDateTime>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QVBoxLayout>

namespace spui {

TrainingPanel::TrainingPanel(Session* session, QWidget* parent) : QWidget(parent), session_(session)
{
    auto named = [](QWidget* widget, const char* name) {
        widget->setObjectName(QLatin1String(name));
        return widget;
    };
    k_ = new QSpinBox(this);
    named(k_, "kBox");
    k_->setRange(1, 8192);
    k_->setToolTip(tr("Number of soft-prompt vectors σ that replace the context (1–8192). Fewer vectors "
                      "compress more; the compression ratio is context tokens / k."));
    objective_ = new QComboBox(this);
    named(objective_, "objectiveBox");
    for (const sp::ObjectiveInfo& info : sp::allObjectives()) {
        objective_->addItem(toQ(info.label), toQ(info.key));
        objective_->setItemData(objective_->count() - 1, toQ(info.description), Qt::ToolTipRole);
    }
    objectiveNote_ = new QLabel(this);
    named(objectiveNote_, "objectiveDirection");
    objectiveNote_->setWordWrap(true);
    temperature_ = new QDoubleSpinBox(this);
    temperature_->setRange(0.05, 20.0);
    temperature_->setSingleStep(0.1);
    temperature_->setDecimals(2);
    named(temperature_, "temperatureBox");
    temperature_->setToolTip(tr("Temperature τ applied to both distributions before s is computed "
                                "(0.05–20). Above 1 flattens them, so σ also learns the teacher's "
                                "second choices; 1 compares the model's own probabilities."));
    target_ = new QComboBox(this);
    named(target_, "targetBox");
    target_->addItem(tr("Next token after z"), QStringLiteral("next"));
    target_->addItem(tr("Continuation of length L"), QStringLiteral("continuation"));
    continuationLength_ = new QSpinBox(this);
    continuationLength_->setRange(1, 256);
    continuationLength_->setPrefix(tr("L = "));
    named(continuationLength_, "continuationLengthBox");
    continuationLength_->setToolTip(tr("L: how many tokens of the teacher's greedy continuation σ must "
                                       "reproduce for each query (1–256). Used with the continuation "
                                       "target."));
    init_ = new QComboBox(this);
    named(init_, "initBox");
    init_->addItem(tr("From text (default: the context)"), QStringLiteral("text"));
    init_->addItem(tr("Chunk means of the context"), QStringLiteral("chunks"));
    init_->addItem(tr("Sampled vocabulary embeddings"), QStringLiteral("vocab"));
    init_->addItem(tr("Random, scaled to the embedding norm"), QStringLiteral("random"));
    initText_ = new QLineEdit(this);
    initText_->setPlaceholderText(tr("init text (empty = the context)"));
    learningRate_ = new QDoubleSpinBox(this);
    named(learningRate_, "learningRateBox");
    learningRate_->setDecimals(5);
    learningRate_->setRange(0.00001, 10.0);
    learningRate_->setSingleStep(0.001);
    learningRate_->setToolTip(tr("Peak learning rate of AdamW (0.00001–10), reached after the warm-up and "
                                 "then decayed by a cosine to a tenth of it"));
    steps_ = new QSpinBox(this);
    named(steps_, "stepsBox");
    steps_->setRange(1, 1000000);
    steps_->setToolTip(tr("Optimisation steps, each on one batch of training queries (1–1,000,000)"));
    batch_ = new QSpinBox(this);
    named(batch_, "batchBox");
    batch_->setRange(1, 4096);
    batch_->setToolTip(tr("Training queries per step (1–4096); more queries give smoother steps and cost "
                          "more time per step"));
    evalInterval_ = new QSpinBox(this);
    named(evalInterval_, "evalIntervalBox");
    evalInterval_->setRange(1, 100000);
    evalInterval_->setToolTip(tr("Evaluate σ on the held-out queries every this many steps (1–100,000): the "
                                 "held-out points of the curve"));
    seed_ = new QSpinBox(this);
    named(seed_, "seedBox");
    seed_->setRange(0, 2147483647);
    seed_->setToolTip(tr("Seed of the initialisation, the batches and the held-out split: the same seed "
                         "gives the same σ on the CPU"));
    warmup_ = new QSpinBox(this);
    warmup_->setRange(0, 100000);
    named(warmup_, "warmupBox");
    warmup_->setToolTip(tr("Steps over which the learning rate rises linearly from 0 to its peak "
                           "(0–100,000)"));
    patience_ = new QSpinBox(this);
    patience_->setRange(0, 1000);
    patience_->setSpecialValueText(tr("off"));
    named(patience_, "patienceBox");
    patience_->setToolTip(tr("Stop when this many held-out evaluations in a row did not improve s "
                             "(0 = off, up to 1000)"));
    runName_ = new QLineEdit(this);
    named(runName_, "runNameEdit");
    runName_->setPlaceholderText(tr("optional run name"));

    auto* settings = new QGroupBox(tr("Training σ"), this);
    auto* form = new QFormLayout(settings);
    form->addRow(tr("&k vectors:"), k_);
    form->addRow(tr("&Objective s:"), objective_);
    form->addRow(QString(), objectiveNote_);
    form->addRow(tr("&Temperature τ:"), temperature_);
    auto* targetRow = new QHBoxLayout;
    targetRow->addWidget(target_, 1);
    targetRow->addWidget(continuationLength_);
    form->addRow(tr("Target:"), targetRow);
    form->addRow(tr("&Init:"), init_);
    form->addRow(QString(), initText_);
    form->addRow(tr("&Learning rate:"), learningRate_);
    form->addRow(tr("&Steps:"), steps_);
    form->addRow(tr("&Batch (queries):"), batch_);
    form->addRow(tr("&Eval every:"), evalInterval_);
    form->addRow(tr("Warm-up steps:"), warmup_);
    form->addRow(tr("Early stop after:"), patience_);
    form->addRow(tr("See&d:"), seed_);
    form->addRow(tr("Run &name:"), runName_);

    startButton_ = new QPushButton(tr("&Train"), this);
    named(startButton_, "startButton");
    startButton_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return));
    startButton_->setToolTip(tr("Train σ with these settings (Ctrl+Enter)"));
    startButton_->setDefault(true);
    pauseButton_ = new QPushButton(tr("&Pause"), this);
    named(pauseButton_, "pauseButton");
    stopButton_ = new QPushButton(tr("St&op"), this);
    named(stopButton_, "stopButton");
    stopButton_->setShortcut(QKeySequence(Qt::Key_Escape));
    stopButton_->setToolTip(tr("Stop after the current step, keep σ and evaluate it (Esc)"));
    connect(startButton_, &QPushButton::clicked, this, &TrainingPanel::start);
    connect(pauseButton_, &QPushButton::clicked, this, &TrainingPanel::togglePause);
    connect(stopButton_, &QPushButton::clicked, this, &TrainingPanel::stop);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(startButton_);
    buttons->addWidget(pauseButton_);
    buttons->addWidget(stopButton_);

    sweepKs_ = new QLineEdit(QStringLiteral("1,2,4,8,16,32"), this);
    named(sweepKs_, "sweepKsEdit");
    sweepButton_ = new QPushButton(tr("Run s&weep"), this);
    named(sweepButton_, "sweepButton");
    sweepButton_->setToolTip(tr("Train once per k with the other settings, and plot fidelity against the "
                                "compression ratio (Sweep tab)"));
    connect(sweepButton_, &QPushButton::clicked, this, &TrainingPanel::startSweep);
    auto* sweepRow = new QHBoxLayout;
    sweepRow->addWidget(new QLabel(tr("Sweep k ="), this));
    sweepRow->addWidget(sweepKs_, 1);
    sweepRow->addWidget(sweepButton_);

    progress_ = new QProgressBar(this);
    named(progress_, "trainProgress");
    progress_->setRange(0, 1);
    progress_->setValue(0);
    progress_->setTextVisible(true);
    progress_->setFormat(tr("idle"));
    phase_ = new QLabel(this);
    named(phase_, "phaseLabel");
    phase_->setWordWrap(true);
    result_ = new QLabel(this);
    named(result_, "resultLabel");
    result_->setWordWrap(true);
    result_->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(settings);
    layout->addLayout(buttons);
    layout->addLayout(sweepRow);
    layout->addWidget(progress_);
    layout->addWidget(phase_);
    layout->addWidget(result_);
    layout->addStretch(1);

    connect(objective_, qOverload<int>(&QComboBox::currentIndexChanged), this,
            &TrainingPanel::updateObjectiveNote);
    connect(target_, qOverload<int>(&QComboBox::currentIndexChanged), this,
            &TrainingPanel::updateTargetFields);
    connect(init_, qOverload<int>(&QComboBox::currentIndexChanged), this, &TrainingPanel::updateTargetFields);
    connect(session_, &Session::activityChanged, this, &TrainingPanel::onActivity);
    connect(session_, &Session::modelChanged, this, &TrainingPanel::onActivity);
    TrainingWorker* worker = session_->worker();
    connect(worker, &TrainingWorker::stepReported, this, &TrainingPanel::onStep);
    connect(worker, &TrainingWorker::phaseChanged, this, &TrainingPanel::onPhase);
    connect(worker, &TrainingWorker::runStarted, this, [this](qint64, int sweepIndex, int k) {
        sweepIndex_ = sweepIndex;
        sweepK_ = k;
        if (sweepCount_ > 1)
            phase_->setText(sweepPrefix() + tr("starting"));
    });
    // A failure message belongs to the run that failed: a new model, context or query set (or a
    // new run) starts from a clean panel.
    connect(session_, &Session::modelChanged, this, &TrainingPanel::clearFailure);
    connect(session_, &Session::contextChanged, this, &TrainingPanel::clearFailure);
    connect(worker, &TrainingWorker::trainingFinished, this, &TrainingPanel::onFinished);

    setConfig(sp::TrainConfig{});
    onActivity();
}

sp::TrainConfig TrainingPanel::config() const
{
    sp::TrainConfig config;
    config.k = k_->value();
    config.objective = sp::objectiveFromKey(toStd(objective_->currentData().toString()));
    config.temperature = temperature_->value();
    config.target = sp::targetKindFromKey(toStd(target_->currentData().toString()));
    config.continuationLength = continuationLength_->value();
    config.init = sp::initKindFromKey(toStd(init_->currentData().toString()));
    config.initText = toStd(initText_->text());
    config.learningRate = learningRate_->value();
    config.steps = steps_->value();
    config.batchSize = batch_->value();
    config.evalInterval = evalInterval_->value();
    config.seed = std::uint64_t(seed_->value());
    config.warmupSteps = warmup_->value();
    config.earlyStopPatience = patience_->value();
    if (session_->hasModel()) {
        const std::string device = session_->model().summary().device;
        config.device = device.rfind("cuda", 0) == 0 ? "cuda" : "cpu";
        config.dtype = session_->model().summary().dtype;
    }
    return config;
}

void TrainingPanel::setConfig(const sp::TrainConfig& config)
{
    k_->setValue(config.k);
    const int objective = objective_->findData(toQ(sp::objectiveInfo(config.objective).key));
    objective_->setCurrentIndex(std::max(0, objective));
    temperature_->setValue(config.temperature);
    target_->setCurrentIndex(std::max(0, target_->findData(toQ(sp::targetKindKey(config.target)))));
    continuationLength_->setValue(config.continuationLength);
    init_->setCurrentIndex(std::max(0, init_->findData(toQ(sp::initKindKey(config.init)))));
    initText_->setText(toQ(config.initText));
    learningRate_->setValue(config.learningRate);
    steps_->setValue(config.steps);
    batch_->setValue(config.batchSize);
    evalInterval_->setValue(config.evalInterval);
    seed_->setValue(int(std::min<std::uint64_t>(config.seed, 2147483647u)));
    warmup_->setValue(config.warmupSteps);
    patience_->setValue(config.earlyStopPatience);
    updateObjectiveNote();
    updateTargetFields();
}

QString TrainingPanel::runName(bool sweep) const
{
    const QString name = runName_->text().trimmed();
    if (!name.isEmpty())
        return name;
    const QString context = session_->contextLabel();
    // A sweep's runs get ", k=N" appended by the worker.
    if (sweep)
        return tr("%1, %2 sweep").arg(context, objective_->currentData().toString());
    return tr("%1, %2, k=%3").arg(context, objective_->currentData().toString()).arg(k_->value());
}

std::vector<int> TrainingPanel::sweepKs(QString* error) const
{
    std::vector<int> ks;
    for (const QString& part : sweepKs_->text().split(QLatin1Char(','), Qt::SkipEmptyParts)) {
        bool ok = false;
        const int k = part.trimmed().toInt(&ok);
        if (!ok || k < 1) {
            if (error)
                *error = tr("\"%1\" in the sweep list is not a positive whole number; write k values like "
                            "1,2,4,8.")
                             .arg(part.trimmed());
            return {};
        }
        ks.push_back(k);
    }
    if (ks.empty() && error)
        *error = tr("The sweep list is empty; write k values like 1,2,4,8.");
    return ks;
}

void TrainingPanel::updateObjectiveNote()
{
    const QString key = objective_->currentData().toString();
    if (key.isEmpty())
        return;
    const sp::ObjectiveInfo& info = sp::objectiveInfo(sp::objectiveFromKey(toStd(key)));
    objectiveNote_->setText(info.higherIsBetter ? tr("↑ a similarity: σ is trained to <b>maximise</b> it")
                                                : tr("↓ a divergence: σ is trained to <b>minimise</b> it"));
    emit objectiveChanged(toQ(info.label), info.higherIsBetter);
}

void TrainingPanel::updateTargetFields()
{
    continuationLength_->setEnabled(target_->currentData().toString() == QLatin1String("continuation"));
    initText_->setEnabled(init_->currentData().toString() == QLatin1String("text"));
}

void TrainingPanel::start()
{
    startJob({});
}

void TrainingPanel::startSweep()
{
    QString error;
    const std::vector<int> ks = sweepKs(&error);
    if (ks.empty()) {
        emit startRefused(error);
        return;
    }
    startJob(ks);
}

void TrainingPanel::startJob(const std::vector<int>& sweepKs)
{
    sp::TrainConfig trainConfig;
    try {
        trainConfig = config();
    } catch (const std::exception& error) {
        emit startRefused(toQ(error.what()));
        return;
    }
    emit aboutToStart(trainConfig);
    QString whyNot;
    sweepCount_ = int(sweepKs.size());
    if (!session_->startTraining(trainConfig, runName(!sweepKs.empty()), sweepKs, &whyNot)) {
        emit startRefused(whyNot);
        return;
    }
    showingFailure_ = false;
    result_->clear();
    phase_->setText(sweepKs.size() > 1 ? tr("Sweep of %n σ: preparing…", nullptr, int(sweepKs.size()))
                                       : tr("Preparing…"));
    progress_->setRange(0, trainConfig.steps);
    progress_->setValue(0);
    progress_->setFormat(tr("preparing…"));
}

QString TrainingPanel::sweepPrefix() const
{
    if (sweepCount_ <= 1)
        return {};
    return tr("Sweep k = %1 (%2 of %3) · ").arg(sweepK_).arg(sweepIndex_ + 1).arg(sweepCount_);
}

void TrainingPanel::clearFailure()
{
    if (!showingFailure_ || session_->isBusy())
        return;
    showingFailure_ = false;
    progress_->setRange(0, 1);
    progress_->setValue(0);
    progress_->setFormat(tr("idle"));
    phase_->setText(session_->hasModel() ? tr("Ready: press Train.") : tr("Load a model to train."));
    result_->clear();
}

QString TrainingPanel::phaseText() const
{
    return phase_->text();
}

QString TrainingPanel::progressText() const
{
    return progress_->format();
}

void TrainingPanel::togglePause()
{
    if (session_->activity() != Session::Activity::Training)
        return;
    const bool pause = !session_->isPaused();
    session_->setPaused(pause);
    pauseButton_->setText(pause ? tr("&Resume") : tr("&Pause"));
    if (pause)
        progress_->setFormat(progress_->format() + tr(" · paused"));
}

void TrainingPanel::stop()
{
    if (session_->activity() != Session::Activity::Training)
        return;
    session_->cancel();
    pauseButton_->setText(tr("&Pause"));
    phase_->setText(tr("Stopping after the current step…"));
}

void TrainingPanel::onActivity()
{
    const bool training = session_->activity() == Session::Activity::Training;
    const bool idle = !session_->isBusy();
    startButton_->setEnabled(idle && session_->hasModel());
    sweepButton_->setEnabled(idle && session_->hasModel());
    pauseButton_->setEnabled(training);
    stopButton_->setEnabled(training);
    if (!training)
        pauseButton_->setText(tr("&Pause"));
    const QString noModel = tr("Load a model to train.");
    if (!session_->hasModel() && idle)
        phase_->setText(noModel);
    else if (session_->hasModel() && phase_->text() == noModel) // the model has arrived since
        phase_->setText(tr("Ready: press Train."));
}

void TrainingPanel::onPhase(const QString& phase, double fraction)
{
    phase_->setText(sweepPrefix() + (fraction > 0.0 && fraction < 1.0
                                         ? tr("%1 (%2%)").arg(phase).arg(int(fraction * 100))
                                         : phase));
}

void TrainingPanel::onStep(const sp::StepReport& report)
{
    lastElapsedSeconds_ = report.elapsedSeconds;
    progress_->setRange(0, report.totalSteps);
    progress_->setValue(report.step);
    const double stepsPerSecond = report.elapsedSeconds > 0 ? report.step / report.elapsedSeconds : 0.0;
    QString text = sweepPrefix() + tr("step %1 / %2 · %3 steps/s · ETA %4")
                       .arg(report.step)
                       .arg(report.totalSteps)
                       .arg(stepsPerSecond, 0, 'f', stepsPerSecond < 10 ? 2 : 1)
                       .arg(humanDuration(report.etaSeconds));
    if (session_->isPaused())
        text += tr(" · paused");
    progress_->setFormat(text);
    if (report.step == 1)
        phase_->setText(sweepPrefix() + tr("Training σ"));
}

void TrainingPanel::onFinished(const TrainingOutcome& outcome)
{
    sweepCount_ = 0;
    switch (outcome.status) {
    case sp::RunStatus::Finished:
        progress_->setFormat(tr("finished: %1 steps in %2")
                                 .arg(outcome.result.stepsCompleted)
                                 .arg(humanDuration(lastElapsedSeconds_)));
        phase_->setText(tr("Done. Run %1 is saved; see the Compare tab for each query.").arg(outcome.runId));
        break;
    case sp::RunStatus::Cancelled:
        progress_->setFormat(tr("cancelled at step %1").arg(outcome.result.stepsCompleted));
        phase_->setText(outcome.message);
        break;
    default:
        showingFailure_ = true;
        progress_->setFormat(tr("failed"));
        phase_->setText(tr("<b>The run failed.</b> %1").arg(outcome.message.toHtmlEscaped()));
        break;
    }
    if (outcome.runId == 0 && outcome.status != sp::RunStatus::Failed)
        phase_->setText(phase_->text() + QLatin1Char(' ') + tr("(not saved)"));
    if (!outcome.storeWarning.isEmpty())
        result_->setText(outcome.storeWarning);
    else if (outcome.result.stepsCompleted > 0)
        result_->setText(tr("s went from %1 to %2 on the training minibatches.")
                             .arg(outcome.result.initialTrainS, 0, 'g', 4)
                             .arg(outcome.result.finalTrainS, 0, 'g', 4));
}

void TrainingPanel::saveSettings() const
{
    QSettings settings;
    try {
        settings.setValue(QStringLiteral("training/config"),
                          QString::fromStdString(sp::trainConfigToJson(config()).dump()));
    } catch (const std::exception&) {
        // A config that cannot be built is not worth keeping.
    }
    settings.setValue(QStringLiteral("training/sweepKs"), sweepKs_->text());
}

void TrainingPanel::restoreSettings()
{
    QSettings settings;
    const QString json = settings.value(QStringLiteral("training/config")).toString();
    if (!json.isEmpty()) {
        try {
            setConfig(sp::trainConfigFromJson(nlohmann::json::parse(toStd(json))));
        } catch (const std::exception&) {
            setConfig(sp::TrainConfig{}); // settings from an older version: start from the defaults
        }
    }
    const QString ks = settings.value(QStringLiteral("training/sweepKs")).toString();
    if (!ks.isEmpty())
        sweepKs_->setText(ks);
}

} // namespace spui
