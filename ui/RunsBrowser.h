#pragma once
// Every run in the run store: filter, tag, annotate, delete, reopen (its curve, per-query results
// and σ), load its settings into the training panel, overlay the curves of several runs, and diff
// the configs of two.
#include "softprompt/engine.h"

#include <QWidget>

#include <cstdint>
#include <vector>

class QComboBox;
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
    void deleteSelected(bool ask = true);
    void showDiff();
    QString diffText(std::int64_t left, std::int64_t right) const;
    void exportSigma(bool peft);
    void exportCurveCsv();
    void updateOverlay();

signals:
    void configLoadRequested(const sp::TrainConfig& config);
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
    QLabel* storeLabel_ = nullptr;
    QComboBox* overlayMetric_ = nullptr;
    QCustomPlot* overlay_ = nullptr;
    QLineEdit* tagsEdit_ = nullptr;
    QPlainTextEdit* notesEdit_ = nullptr;
    QLabel* detailLabel_ = nullptr;
    QPushButton* openButton_ = nullptr;
    QPushButton* configButton_ = nullptr;
    QPushButton* diffButton_ = nullptr;
    QPushButton* deleteButton_ = nullptr;
    QPushButton* sigmaButton_ = nullptr;
    QPushButton* peftButton_ = nullptr;
    QPushButton* csvButton_ = nullptr;
    QPushButton* saveDetailsButton_ = nullptr;
};

} // namespace spui
