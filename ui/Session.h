#pragma once
// The state the tabs share: the loaded model, the context, the query set, the worker thread that
// does all slow work, and the latest training outcome. Widgets read it and listen to its signals;
// only the worker touches the model's tensors.
#include "TrainingWorker.h"

#include <QObject>
#include <QString>

class QThread;

namespace spui {

class QueryTableModel;

class Session : public QObject {
    Q_OBJECT
public:
    enum class Activity { Idle, LoadingModel, Training, FillingTargets };
    Q_ENUM(Activity)

    explicit Session(QObject* parent = nullptr);
    ~Session() override; // cancels what runs and joins the worker thread

    TrainingWorker* worker() const { return worker_; }
    QueryTableModel* queries() const { return queries_; }

    bool hasModel() const { return model_.isLoaded(); }
    const sp::ModelHandle& model() const { return model_; }
    QString modelSource() const { return modelSource_; }
    // The model's tokenizer, or nullptr when no model is loaded.
    const sp::Tokenizer* tokenizer() const;

    QString context() const { return context_; }
    void setContext(const QString& text);
    // The name of where the context came from (an example's title, a file name). It names one text:
    // once the text is edited or replaced, contextName() is empty and contextLabel() describes the
    // text itself, so no label, run name or report names a context that is no longer there.
    QString contextName() const { return context_ == namedText_ ? contextName_ : QString(); }
    QString contextNameForText() const { return contextName(); }
    // Names the current text.
    void setContextName(const QString& name);
    // The name, or the context's first words ("“You are a support bot…”"), or "empty context".
    QString contextLabel() const;
    // A context's first words, quoted: how a context without a name is shown (also in the runs table).
    static QString contextSummary(const QString& text);

    // How c and z go into the prompt (Auto = the model's chat template when it has one).
    sp::PromptFormat promptFormat() const { return promptFormat_; }
    void setPromptFormat(sp::PromptFormat format);

    QString databasePath() const { return databasePath_; }
    void setDatabasePath(const QString& path);

    Activity activity() const { return activity_; }
    bool isBusy() const { return activity_ != Activity::Idle; }

    // Each returns false with a message for the user when it cannot start now.
    bool loadModel(const QString& source, const sp::ModelLoadOptions& options, QString* whyNot = nullptr);
    bool startTraining(const sp::TrainConfig& config, const QString& runName, const std::vector<int>& sweepKs,
                       QString* whyNot = nullptr);
    bool fillTargets(int maxNewTokens, QString* whyNot = nullptr);
    void cancel();
    void abandon(); // cancel, and skip the final evaluation (closing)
    void setPaused(bool paused);
    bool isPaused() const;

    const TrainingOutcome& lastOutcome() const { return lastOutcome_; }
    bool hasOutcome() const { return hasOutcome_; }
    // Shows a stored run's results (from the runs browser) as the current outcome.
    void showOutcome(const TrainingOutcome& outcome);

signals:
    void activityChanged(spui::Session::Activity activity);
    void modelChanged();
    void modelLoadFailed(const QString& source, const QString& message);
    void modelWarning(const QString& message);
    void contextChanged();
    void promptFormatChanged();
    void contextLabelChanged(const QString& label);
    void databasePathChanged();
    void outcomeChanged(); // a run finished (or was opened from the store)
    void targetsFilled(int count);
    void targetsFailed(const QString& message);

private:
    void setActivity(Activity activity);

    QThread* thread_ = nullptr;
    TrainingWorker* worker_ = nullptr;
    QueryTableModel* queries_ = nullptr;
    sp::ModelHandle model_;
    QString modelSource_;
    QString context_;
    QString contextName_;
    QString namedText_;
    QString databasePath_;
    sp::PromptFormat promptFormat_ = sp::PromptFormat::Auto;
    Activity activity_ = Activity::Idle;
    TrainingOutcome lastOutcome_;
    bool hasOutcome_ = false;
};

} // namespace spui
