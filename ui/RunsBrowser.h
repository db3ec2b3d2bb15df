#pragma once
// Every run in the run store: filter, tag, annotate, delete, reopen (its curve, per-query results
// and σ), load its settings into the training panel, overlay the curves of several runs, and diff
// the configs of two.
#include "softprompt/engine.h"

#include <QString>
#include <QWidget>

#include <cstdint>
#include <vector>

class QCheckBox;
class QComboBox;
class QSpinBox;
class QCustomPlot;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSortFilterProxyModel;
class QTableView;

namespace spui {

class RunsModel;
class Session;
struct TrainingOutcome;

class RunsBrowser : public QWidget {
    Q_OBJECT
public:
    explicit RunsBrowser(Session* session, QWidget* parent = nullptr);

    RunsModel* model() const { return model_; }
    QTableView* table() const { return table_; }
    QCustomPlot* overlayPlot() const { return overlay_; }

    void reopenStore();
    void refresh();
    std::vector<std::int64_t> selectedRunIds() const;
    void selectRuns(const std::vector<std::int64_t>& runIds);

    // Builds a TrainingOutcome (config, σ, per-query evaluation) for a stored run.
    bool loadOutcome(std::int64_t runId, TrainingOutcome* outcome, QString* error) const;
    void openInCompare();
    void loadConfigIntoEditor();
    // The context, query set and settings a run was trained with, as the database stores them.
    bool loadRunWork(std::int64_t runId, QString* context, std::vector<sp::Query>* queries,
                     sp::TrainConfig* config, QString* error) const;
    void restoreWorkFromRun();
    void deleteSelected(bool ask = true);
    void showDiff();
    // Two runs side by side: the settings that differ, each run's last metrics, and σ's answer to
    // every query either run evaluated (✓ same as the teacher, ≈ same first token, ✗ different).
    struct DiffRow {
        enum Kind { Setting, Metric, Query } kind = Setting;
        QString key, left, right;
    };
    std::vector<DiffRow> diffRows(std::int64_t left, std::int64_t right) const; // throws sp::Error
    QString diffText(std::int64_t left, std::int64_t right) const;
    void exportSigma(bool peft);
    // Whether the PEFT export of this run would write the context as its init text (the export
    // asks first then).
    bool peftWouldWriteContext(std::int64_t runId) const;
    // Writes the adapter; a non-empty `initLabel` replaces prompt_tuning_init_text.
    bool exportPeftTo(std::int64_t runId, const QString& directory, const QString& initLabel, QString* error) const;
    void exportCurveCsv();
    void updateOverlay();

signals:
    void configLoadRequested(const sp::TrainConfig& config);
    // "Restore context and queries from this run": the window asks before it replaces unsaved work.
    void workRestoreRequested(std::int64_t runId, const QString& context, const std::vector<sp::Query>& queries,
                              const sp::TrainConfig& config);
    void outcomeOpened();

private:
    void applyFilter();
    void onCurrentRunChanged();
    void saveDetails();
    void updateButtons();

    Session* session_ = nullptr;
    RunsModel* model_ = nullptr;
    QSortFilterProxyModel* proxy_ = nullptr;
    QTableView* table_ = nullptr;
    QLineEdit* filterText_ = nullptr;
    QComboBox* statusFilter_ = nullptr;
    QComboBox* tagFilter_ = nullptr;
    QComboBox* contextFilter_ = nullptr;
    QCheckBox* overlayLog_ = nullptr;
    QSpinBox* overlaySmoothing_ = nullptr;
    QLabel* storeLabel_ = nullptr;
    QComboBox* overlayMetric_ = nullptr;
    QCustomPlot* overlay_ = nullptr;
    QLineEdit* tagsEdit_ = nullptr;
    QPlainTextEdit* notesEdit_ = nullptr;
    QLabel* detailLabel_ = nullptr;
    QPushButton* openButton_ = nullptr;
    QPushButton* configButton_ = nullptr;
    QPushButton* restoreWorkButton_ = nullptr;
    QPushButton* diffButton_ = nullptr;
    QPushButton* deleteButton_ = nullptr;
    QPushButton* sigmaButton_ = nullptr;
    QPushButton* peftButton_ = nullptr;
    QPushButton* csvButton_ = nullptr;
    QPushButton* saveDetailsButton_ = nullptr;
};

} // namespace spui
