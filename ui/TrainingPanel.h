#pragma once
// The training settings (k, objective s and its direction, temperature, target, init, lr, steps,
// batch, evaluation interval, seed), Start / Pause / Stop, and a progress bar with steps/s and ETA.
#include "softprompt/engine.h"

#include <QWidget>

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;

namespace spui {

class Session;
struct TrainingOutcome;

class TrainingPanel : public QWidget {
    Q_OBJECT
public:
    explicit TrainingPanel(Session* session, QWidget* parent = nullptr);

    sp::TrainConfig config() const;
    void setConfig(const sp::TrainConfig& config);
    QString runName(bool sweep = false) const;

    // Parses the sweep's k list ("1,2,4,8"); empty with a message when it is not valid.
    std::vector<int> sweepKs(QString* error = nullptr) const;

    void start();
    void startSweep();
    void togglePause();
    void stop();

    void saveSettings() const;
    void restoreSettings();

    // What the panel shows under the buttons and in the progress bar (tests read them).
    QString phaseText() const;
    QString progressText() const;
    // Puts the panel back to "ready" after a failed run once something has changed.
    void clearFailure();

signals:
    void objectiveChanged(const QString& label, bool higherIsBetter);
    // Before the job is queued: listeners clear their views for a new run.
    void aboutToStart(const sp::TrainConfig& config);
    void startRefused(const QString& message);

private:
    void onActivity();
    void onStep(const sp::StepReport& report);
    void onPhase(const QString& phase, double fraction);
    void onFinished(const TrainingOutcome& outcome);
    void updateObjectiveNote();
    void updateTargetFields();
    void startJob(const std::vector<int>& sweepKs);
    QString sweepPrefix() const; // "Sweep k = 4 (3 of 6) · " during a sweep, else empty

    Session* session_ = nullptr;
    QSpinBox* k_ = nullptr;
    QComboBox* objective_ = nullptr;
    QLabel* objectiveNote_ = nullptr;
    QDoubleSpinBox* temperature_ = nullptr;
    QComboBox* target_ = nullptr;
    QSpinBox* continuationLength_ = nullptr;
    QComboBox* init_ = nullptr;
    QLineEdit* initText_ = nullptr;
    QDoubleSpinBox* learningRate_ = nullptr;
    QSpinBox* steps_ = nullptr;
    QSpinBox* batch_ = nullptr;
    QSpinBox* evalInterval_ = nullptr;
    QSpinBox* seed_ = nullptr;
    QSpinBox* warmup_ = nullptr;
    QSpinBox* patience_ = nullptr;
    QLineEdit* runName_ = nullptr;
    QLineEdit* sweepKs_ = nullptr;
    QPushButton* startButton_ = nullptr;
    QPushButton* sweepButton_ = nullptr;
    QPushButton* pauseButton_ = nullptr;
    QPushButton* stopButton_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QLabel* phase_ = nullptr;
    QLabel* result_ = nullptr;
    int sweepIndex_ = 0;
    int sweepCount_ = 0;
    int sweepK_ = 0;
    bool showingFailure_ = false;
    double lastElapsedSeconds_ = 0.0;
};

} // namespace spui
