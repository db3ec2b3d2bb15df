#include "SlurmSweepPanel.h"

#include "QtConvert.h"
#include "softprompt/paths.h"
#include "softprompt/run_store.h"
#include "softprompt/slurm.h"
#include "softprompt/sweep_grid.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QProcess>
#include <QPushButton>
#include <QRadioButton>
#include <QSettings>
#include <QSpinBox>
#include <QTableWidget>
#include <QThread>
#include <QTimer>
#include <QVBoxLayout>

namespace spui {

// ---- the worker (its own thread) ----------------------------------------------------------------------

void SlurmSweepWorker::submit(const QString& gridPath, const QVariantMap& options, const QString& database,
                              const QString& softprompt)
{
    try {
        const sp::SweepGrid grid = sp::loadSweepGrid(gridPath.toStdString());
        sp::slurm::SubmitOptions submit;
        submit.partition = options.value("partition").toString().toStdString();
        submit.gpusPerTask = options.value("gpus").toInt();
        submit.cpusPerTask = std::max(1, options.value("cpus").toInt());
        submit.time = options.value("time").toString().toStdString();
        if (const QString preamble = options.value("preamble").toString(); !preamble.isEmpty())
            submit.preamble = sp::readTextFile(preamble.toStdString());
        // The merge job merges into a file of the sweep's own folder; this GUI merges the shards into
        // the open database itself, so no two machines ever write one SQLite file.
        sp::slurm::SlurmSweep sweep =
            sp::slurm::planSweep(grid, submit, database.toStdString(), {}, softprompt.toStdString());
        sweep.database = (QDir(QString::fromStdString(sweep.directory)).filePath("merged.sqlite")).toStdString();
        std::int64_t sweepId = 0;
        {
            sp::RunStore store = sp::RunStore::open(database.toStdString());
            sweepId = store.findOrCreateSweep(sweep.uuid, sweep.name, sp::slurm::sweepConfigJson(sweep));
        }
        sp::slurm::submit(sweep);
        {
            sp::RunStore store = sp::RunStore::open(database.toStdString());
            store.setSweepConfig(sweepId, sp::slurm::sweepConfigJson(sweep));
        }
        merged_.clear();
        mergedRecord_ = toQ(sweep.recordPath());
        Q_EMIT submitted(toQ(sweep.recordPath()), sweepId,
                         tr("Submitted %1 task(s) as job %2 (merge job %3). Script: %4")
                             .arg(sweep.points.size())
                             .arg(toQ(sweep.arrayJobId), toQ(sweep.mergeJobId), toQ(sweep.scriptPath())));
    } catch (const std::exception& error) {
        Q_EMIT failed(errorText(error));
    }
}

void SlurmSweepWorker::poll(const QString& recordPath, const QString& database)
{
    try {
        if (recordPath != mergedRecord_) {
            merged_.clear();
            mergedRecord_ = recordPath;
        }
        const sp::slurm::SlurmSweep sweep = sp::slurm::readSweepRecord(recordPath.toStdString());
        const sp::slurm::SweepStatus status = sp::slurm::querySweepStatus(sweep);
        // Merge the shards of tasks that have ended (a killed task's run arrives interrupted).
        std::vector<std::string> shards;
        std::vector<int> indexes;
        for (const sp::slurm::TaskState& task : status.tasks)
            if (task.finished() && !merged_.contains(task.index) && QFileInfo::exists(toQ(sweep.shardPath(task.index)))) {
                shards.push_back(sweep.shardPath(task.index));
                indexes.push_back(task.index);
            }
        int added = 0;
        if (!shards.empty() && !database.isEmpty()) {
            sp::RunStore store = sp::RunStore::open(database.toStdString());
            const sp::MergeResult result = store.merge(shards);
            for (std::size_t i = 0; i < result.shards.size(); ++i)
                if (result.shards[i].error.empty() && result.shards[i].runsStillRunning == 0)
                    merged_.insert(indexes[i]);
            added = result.runsAdded() + result.runsUpdated();
        }
        Q_EMIT statusReady(toQ(status.toJson().dump()), added);
    } catch (const std::exception& error) {
        Q_EMIT failed(errorText(error));
    }
}

void SlurmSweepWorker::cancel(const QString& recordPath)
{
    try {
        sp::slurm::SlurmSweep sweep = sp::slurm::readSweepRecord(recordPath.toStdString());
        sp::slurm::cancel(sweep);
    } catch (const std::exception& error) {
        Q_EMIT failed(errorText(error));
    }
}

// ---- the panel ------------------------------------------------------------------------------------------

SlurmSweepPanel::SlurmSweepPanel(std::function<QString()> databasePath, QWidget* parent)
    : QGroupBox(tr("Run a sweep grid"), parent), databasePath_(std::move(databasePath))
{
    setObjectName(QStringLiteral("slurmSweepPanel"));
    slurmAvailable_ = sp::slurm::sbatchAvailable();
    onThisMachine_ = new QRadioButton(tr("this machine"), this);
    onSlurm_ = new QRadioButton(tr("Slurm cluster"), this);
    onSlurm_->setObjectName(QStringLiteral("runOnSlurm"));
    onThisMachine_->setChecked(true);
    if (!slurmAvailable_) {
        onSlurm_->setEnabled(false);
        onSlurm_->setToolTip(tr("sbatch is not on PATH, so there is no Slurm cluster to submit to from here. "
                                "Run the workbench on the cluster's login node (or `module load slurm` "
                                "before starting it)."));
    } else {
        onSlurm_->setToolTip(tr("Submit the grid as a Slurm job array: one task per grid point"));
    }
    gridPath_ = new QLineEdit(this);
    gridPath_->setPlaceholderText(tr("sweep grid (JSON): {\"train\": {...}, \"grid\": {\"k\": [1, 2, 4]}}"));
    auto* browse = new QPushButton(tr("Browse…"), this);
    partition_ = new QLineEdit(this);
    partition_->setPlaceholderText(tr("default"));
    gpus_ = new QSpinBox(this);
    gpus_->setRange(0, 16);
    gpus_->setToolTip(tr("GPUs per array task (--gpus-per-task); 0 runs each task on CPUs only"));
    cpus_ = new QSpinBox(this);
    cpus_->setRange(1, 256);
    cpus_->setToolTip(tr("CPU cores per array task (--cpus-per-task); each task's training threads use them"));
    time_ = new QLineEdit(this);
    time_->setPlaceholderText(tr("e.g. 01:00:00"));
    preamble_ = new QLineEdit(this);
    preamble_->setPlaceholderText(tr("file of shell lines run first, e.g. module load cuda"));
    runButton_ = new QPushButton(tr("Run grid"), this);
    cancelButton_ = new QPushButton(tr("Cancel"), this);
    cancelButton_->setEnabled(false);
    tasks_ = new QTableWidget(0, 5, this);
    tasks_->setObjectName(QStringLiteral("slurmTasks"));
    tasks_->setHorizontalHeaderLabels({tr("Task"), tr("State"), tr("Run"), tr("Step"), tr("Grid point")});
    tasks_->horizontalHeader()->setStretchLastSection(true);
    tasks_->verticalHeader()->hide();
    tasks_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    tasks_->setMinimumHeight(90);
    status_ = new QLabel(this);
    status_->setWordWrap(true);
    status_->setTextInteractionFlags(Qt::TextSelectableByMouse);

    QSettings settings;
    gridPath_->setText(settings.value("sweep/grid").toString());
    partition_->setText(settings.value("slurm/partition").toString());
    gpus_->setValue(settings.value("slurm/gpusPerTask", 0).toInt());
    cpus_->setValue(settings.value("slurm/cpusPerTask", 1).toInt());
    time_->setText(settings.value("slurm/time").toString());
    preamble_->setText(settings.value("slurm/preamble").toString());
    if (slurmAvailable_ && settings.value("sweep/runOn").toString() == "slurm")
        onSlurm_->setChecked(true);

    auto* runOn = new QHBoxLayout;
    runOn->addWidget(new QLabel(tr("Run on:"), this));
    runOn->addWidget(onThisMachine_);
    runOn->addWidget(onSlurm_);
    runOn->addStretch(1);
    auto* grid = new QHBoxLayout;
    grid->addWidget(gridPath_, 1);
    grid->addWidget(browse);
    auto* slurmFields = new QHBoxLayout;
    slurmFields->addWidget(new QLabel(tr("Partition"), this));
    slurmFields->addWidget(partition_);
    slurmFields->addWidget(new QLabel(tr("GPUs/task"), this));
    slurmFields->addWidget(gpus_);
    slurmFields->addWidget(new QLabel(tr("CPUs/task"), this));
    slurmFields->addWidget(cpus_);
    slurmFields->addWidget(new QLabel(tr("Time"), this));
    slurmFields->addWidget(time_);
    slurmFields->addWidget(new QLabel(tr("Preamble"), this));
    slurmFields->addWidget(preamble_, 1);
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(runButton_);
    buttons->addWidget(cancelButton_);
    buttons->addWidget(status_, 1);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(runOn);
    layout->addLayout(grid);
    layout->addLayout(slurmFields);
    layout->addLayout(buttons);
    layout->addWidget(tasks_, 1);

    thread_ = new QThread(this);
    worker_ = new SlurmSweepWorker;
    worker_->moveToThread(thread_);
    connect(thread_, &QThread::finished, worker_, &QObject::deleteLater);
    connect(this, &SlurmSweepPanel::requestSubmit, worker_, &SlurmSweepWorker::submit);
    connect(this, &SlurmSweepPanel::requestPoll, worker_, &SlurmSweepWorker::poll);
    connect(this, &SlurmSweepPanel::requestCancel, worker_, &SlurmSweepWorker::cancel);
    connect(worker_, &SlurmSweepWorker::submitted, this, [this](const QString& record, qint64 sweepId, const QString& message) {
        status_->setText(message);
        follow(record, sweepId);
        Q_EMIT sweepUpdated(sweepId);
    });
    connect(worker_, &SlurmSweepWorker::statusReady, this, &SlurmSweepPanel::showStatus);
    connect(worker_, &SlurmSweepWorker::failed, this, [this](const QString& message) {
        polling_ = false;
        status_->setText(tr("Slurm: %1").arg(message));
        updateEnabled();
    });
    thread_->start();

    pollTimer_ = new QTimer(this);
    pollTimer_->setInterval(2000);
    connect(pollTimer_, &QTimer::timeout, this, &SlurmSweepPanel::pollNow);

    connect(browse, &QPushButton::clicked, this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Sweep grid"), gridPath_->text(),
                                                          tr("Sweep grids (*.json)"));
        if (!path.isEmpty())
            gridPath_->setText(path);
    });
    connect(runButton_, &QPushButton::clicked, this, &SlurmSweepPanel::run);
    connect(cancelButton_, &QPushButton::clicked, this, &SlurmSweepPanel::cancelSweep);
    for (QLineEdit* edit : {gridPath_, partition_, time_, preamble_})
        connect(edit, &QLineEdit::editingFinished, this, &SlurmSweepPanel::saveSettings);
    for (QSpinBox* box : {gpus_, cpus_})
        connect(box, qOverload<int>(&QSpinBox::valueChanged), this, &SlurmSweepPanel::saveSettings);
    connect(onSlurm_, &QRadioButton::toggled, this, [this] {
        saveSettings();
        updateEnabled();
    });
    updateEnabled();
}

SlurmSweepPanel::~SlurmSweepPanel()
{
    thread_->quit();
    thread_->wait();
    if (local_ && local_->state() != QProcess::NotRunning) {
        local_->terminate(); // our own child, by its handle
        local_->waitForFinished(3000);
    }
}

void SlurmSweepPanel::saveSettings()
{
    QSettings settings;
    settings.setValue("sweep/grid", gridPath_->text());
    settings.setValue("sweep/runOn", onSlurm_->isChecked() ? "slurm" : "here");
    settings.setValue("slurm/partition", partition_->text());
    settings.setValue("slurm/gpusPerTask", gpus_->value());
    settings.setValue("slurm/cpusPerTask", cpus_->value());
    settings.setValue("slurm/time", time_->text());
    settings.setValue("slurm/preamble", preamble_->text());
}

void SlurmSweepPanel::updateEnabled()
{
    const bool slurm = onSlurm_->isChecked();
    for (QWidget* field : std::initializer_list<QWidget*>{partition_, gpus_, cpus_, time_, preamble_})
        field->setEnabled(slurm);
    const bool localRunning = local_ && local_->state() != QProcess::NotRunning;
    runButton_->setEnabled(!localRunning);
    cancelButton_->setEnabled(localRunning || !recordPath_.isEmpty());
}

QString SlurmSweepPanel::cliPath() const
{
    const QString beside = QDir(QCoreApplication::applicationDirPath()).filePath("softprompt");
    if (QFileInfo(beside).isExecutable())
        return beside;
    return QString::fromStdString(sp::slurm::findOnPath("softprompt"));
}

void SlurmSweepPanel::run()
{
    saveSettings();
    const QString grid = gridPath_->text().trimmed();
    const QString database = databasePath_();
    if (grid.isEmpty() || !QFileInfo::exists(grid)) {
        status_->setText(tr("Choose a sweep grid file (JSON) first."));
        return;
    }
    if (database.isEmpty()) {
        status_->setText(tr("No run database is open."));
        return;
    }
    const QString cli = cliPath();
    if (cli.isEmpty()) {
        status_->setText(tr("The softprompt program was not found next to the workbench or on PATH."));
        return;
    }
    if (onSlurm_->isChecked()) {
        QVariantMap options{{"partition", partition_->text().trimmed()},
                            {"gpus", gpus_->value()},
                            {"cpus", cpus_->value()},
                            {"time", time_->text().trimmed()},
                            {"preamble", preamble_->text().trimmed()}};
        status_->setText(tr("Submitting…"));
        Q_EMIT requestSubmit(grid, options, database, cli);
        return;
    }
    // This machine: the CLI runs the grid point by point, writing into the open database.
    if (!local_) {
        local_ = new QProcess(this);
        local_->setProcessChannelMode(QProcess::MergedChannels);
        connect(local_, &QProcess::readyRead, this, [this] {
            const QStringList lines = QString::fromUtf8(local_->readAll()).split('\n', Qt::SkipEmptyParts);
            if (!lines.isEmpty())
                status_->setText(lines.last().left(200));
        });
        connect(local_, qOverload<int, QProcess::ExitStatus>(&QProcess::finished), this, [this](int code) {
            status_->setText(code == 0 ? tr("The grid finished on this machine.")
                                       : tr("The grid ended with errors (exit %1); see the runs list.").arg(code));
            updateEnabled();
            Q_EMIT sweepUpdated(0);
        });
    }
    local_->start(cli, {"sweep", "--grid", grid, "--db", database});
    status_->setText(tr("Running the grid on this machine…"));
    updateEnabled();
}

void SlurmSweepPanel::cancelSweep()
{
    if (local_ && local_->state() != QProcess::NotRunning) {
        local_->terminate();
        return;
    }
    if (!recordPath_.isEmpty())
        Q_EMIT requestCancel(recordPath_);
}

void SlurmSweepPanel::follow(const QString& recordPath, qint64 sweepId)
{
    recordPath_ = recordPath;
    sweepId_ = sweepId;
    pollTimer_->start();
    pollNow();
    updateEnabled();
}

void SlurmSweepPanel::pollNow()
{
    if (polling_ || recordPath_.isEmpty())
        return; // the previous poll has not answered yet
    polling_ = true;
    Q_EMIT requestPoll(recordPath_, databasePath_());
}

void SlurmSweepPanel::showStatus(const QString& statusJson, int runsMerged)
{
    polling_ = false;
    const QJsonObject status = QJsonDocument::fromJson(statusJson.toUtf8()).object();
    const QJsonArray tasks = status.value("tasks").toArray();
    const sp::slurm::SlurmSweep sweep = [&] {
        try {
            return sp::slurm::readSweepRecord(recordPath_.toStdString());
        } catch (const std::exception&) {
            return sp::slurm::SlurmSweep{};
        }
    }();
    tasks_->setRowCount(tasks.size());
    for (int row = 0; row < tasks.size(); ++row) {
        const QJsonObject task = tasks[row].toObject();
        const int index = task.value("index").toInt();
        const QString label = index < int(sweep.points.size()) ? toQ(sweep.points[std::size_t(index)].label) : QString();
        const QStringList cells = {QString::number(index), task.value("state").toString(),
                                   task.value("run_status").toString(), QString::number(task.value("last_step").toInt()),
                                   label};
        for (int column = 0; column < cells.size(); ++column) {
            auto* item = new QTableWidgetItem(cells[column]);
            if (column == 1 && !task.value("log_tail").toString().isEmpty())
                item->setToolTip(task.value("log_tail").toString());
            tasks_->setItem(row, column, item);
        }
    }
    const QJsonObject counts = status.value("counts").toObject();
    QStringList summary;
    for (auto it = counts.begin(); it != counts.end(); ++it)
        summary << QStringLiteral("%1 %2").arg(it.value().toInt()).arg(it.key().toLower());
    status_->setText(tr("Tasks: %1. Merge job: %2.%3")
                         .arg(summary.join(", "), status.value("merge").toObject().value("state").toString().toLower(),
                              status.value("note").toString().isEmpty() ? QString()
                                                                        : " " + status.value("note").toString()));
    if (runsMerged > 0)
        Q_EMIT sweepUpdated(sweepId_);
    if (status.value("all_finished").toBool() && runsMerged == 0) {
        pollTimer_->stop(); // everything ended and is merged
        Q_EMIT sweepUpdated(sweepId_);
    }
}

} // namespace spui
