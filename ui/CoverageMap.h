#pragma once
// The map of what σ forgets, beside the context editor: each sentence of the context is coloured
// by how much the teacher's answers depend on it (leave-one-out) and by whether σ keeps that
// influence ("matters to 6 queries; σ keeps it for 2"). Clicking a sentence, in the editor or in
// the ranked list, lists the queries it matters for with σ's distance from the teacher on each.
#include "softprompt/coverage.h"

#include <QString>
#include <QWidget>

#include <functional>
#include <optional>

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QThread;
class QTreeWidget;

namespace spui {

class PlaygroundWorker;
class Session;

class CoveragePanel : public QWidget {
    Q_OBJECT
public:
    // `editor` is the context editor's text field, which the panel colours.
    CoveragePanel(Session* session, QPlainTextEdit* editor, QWidget* parent = nullptr);
    ~CoveragePanel() override;

    // The training settings whose targets (next token or L tokens) the map measures.
    void setConfigProvider(std::function<sp::TrainConfig()> provider) { configProvider_ = std::move(provider); }

    // σ of this stored run when the session shows no trained run (0: none).
    void setFallbackRun(qint64 runId) { fallbackRun_ = runId; }

    // Computes the map for the session's context and queries, with the current run's σ when there
    // is one. False with the reason when it cannot start.
    bool compute(QString* whyNot = nullptr);
    void cancel();
    bool isComputing() const { return computing_; }
    // The latest map, while the context it was computed on is still in the editor.
    const sp::CoverageMap* map() const { return map_ ? &*map_ : nullptr; }
    qint64 sigmaRun() const { return sigmaRun_; }

    // Selects a unit (as a click on it does) and lists its queries; -1 clears.
    void selectUnit(int unit);
    int selectedUnit() const { return selectedUnit_; }
    int unitAtEditorPosition(int position) const; // QString position in the editor, -1 outside units
    QTreeWidget* unitList() const { return units_; }
    QTreeWidget* queryList() const { return queries_; }
    QString summaryText() const;

signals:
    void mapReady();
    void mapFailed(const QString& message);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void applyColours();
    void clearMap(const QString& reason);
    void onReady(int requestId, const sp::CoverageMap& map, qint64 runId);

    Session* session_ = nullptr;
    QPlainTextEdit* editor_ = nullptr;
    QThread* thread_ = nullptr;
    PlaygroundWorker* worker_ = nullptr;
    std::function<sp::TrainConfig()> configProvider_;

    QComboBox* unitBox_ = nullptr;
    QDoubleSpinBox* threshold_ = nullptr;
    QPushButton* computeButton_ = nullptr;
    QProgressBar* progress_ = nullptr;
    QLabel* summary_ = nullptr;
    QTreeWidget* units_ = nullptr;
    QLabel* selection_ = nullptr;
    QTreeWidget* queries_ = nullptr;

    std::optional<sp::CoverageMap> map_;
    QString mappedText_;                     // the editor text the map belongs to
    std::vector<std::pair<int, int>> spans_; // per unit, [begin, end) as QString positions
    qint64 sigmaRun_ = 0;
    qint64 fallbackRun_ = 0;
    int selectedUnit_ = -1;
    int lastRequest_ = 0;
    bool computing_ = false;
};

// The report's section: the units that matter, with what σ keeps of each (HTML, no <html> wrapper).
QString coverageReportHtml(const sp::CoverageMap& map, qint64 sigmaRun);

} // namespace spui
