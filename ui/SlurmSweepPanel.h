#pragma once
// The Sweep tab's "Run a grid" panel: a sweep grid file run on this machine (the CLI in a child
// process) or on a Slurm cluster (a job array). For Slurm, a worker thread submits, polls the tasks
// (scontrol/sacct through core, never on the GUI thread) and merges each finished task's shard into
// the open run database, so the sweep's plots fill in as tasks complete.
#include <QGroupBox>
#include <QObject>
#include <QSet>
#include <QString>

#include <cstdint>
#include <functional>

class QLabel;
class QLineEdit;
class QProcess;
class QPushButton;
class QRadioButton;
class QSpinBox;
class QTableWidget;
class QThread;
class QTimer;

namespace spui {

// Lives on the panel's worker thread; every call may block on sbatch/scontrol/SQLite.
class SlurmSweepWorker : public QObject {
    Q_OBJECT
public:
    using QObject::QObject;

public Q_SLOTS:
    // options: partition, gpus, cpus, time, account, preamble (file), sweepDir
    void submit(const QString& gridPath, const QVariantMap& options, const QString& database,
                const QString& softprompt);
    void poll(const QString& recordPath, const QString& database);
    void cancel(const QString& recordPath);

Q_SIGNALS:
    void submitted(const QString& recordPath, qint64 sweepId, const QString& message);
    void statusReady(const QString& statusJson, int runsMerged);
    void failed(const QString& message);

private:
    QSet<int> merged_; // task indexes whose finished shard is merged
    QString mergedRecord_;
};

class SlurmSweepPanel : public QGroupBox {
    Q_OBJECT
public:
    // `databasePath` returns the open run database ("" when none).
    SlurmSweepPanel(std::function<QString()> databasePath, QWidget* parent = nullptr);
    ~SlurmSweepPanel() override;

    bool slurmAvailable() const { return slurmAvailable_; }
    QRadioButton* slurmOption() const { return onSlurm_; }
    QTableWidget* taskTable() const { return tasks_; }
    // Follows an already submitted sweep (its sweep.json), as after submitting.
    void follow(const QString& recordPath, qint64 sweepId);

Q_SIGNALS:
    void sweepUpdated(qint64 sweepId); // new runs in the open database
    void requestSubmit(const QString& gridPath, const QVariantMap& options, const QString& database,
                       const QString& softprompt);
    void requestPoll(const QString& recordPath, const QString& database);
    void requestCancel(const QString& recordPath);

private:
    void run();
    void cancelSweep();
    void pollNow();
    void showStatus(const QString& statusJson, int runsMerged);
    void saveSettings();
    void updateEnabled();
    QString cliPath() const;

    std::function<QString()> databasePath_;
    bool slurmAvailable_ = false;
    QRadioButton* onThisMachine_ = nullptr;
    QRadioButton* onSlurm_ = nullptr;
    QLineEdit* gridPath_ = nullptr;
    QLineEdit* partition_ = nullptr;
    QSpinBox* gpus_ = nullptr;
    QSpinBox* cpus_ = nullptr;
    QLineEdit* time_ = nullptr;
    QLineEdit* preamble_ = nullptr;
    QPushButton* runButton_ = nullptr;
    QPushButton* cancelButton_ = nullptr;
    QTableWidget* tasks_ = nullptr;
    QLabel* status_ = nullptr;
    QTimer* pollTimer_ = nullptr;
    QThread* thread_ = nullptr;
    SlurmSweepWorker* worker_ = nullptr;
    QProcess* local_ = nullptr;
    QString recordPath_;
    qint64 sweepId_ = 0;
    bool polling_ = false;
};

} // namespace spui
