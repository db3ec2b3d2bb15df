#pragma once
// Debugging poor compression: which queries fail, and why. The held-out aggregates per condition,
// the per-query table worst first, and for the selected query the top-k next-token probabilities
// under each condition side by side, plus the per-token divergence along a continuation target.
#include <QWidget>

class QCustomPlot;
class QLabel;
class QPushButton;
class QSortFilterProxyModel;
class QTableView;

namespace spui {

class CompareModel;
class Session;

class CompareView : public QWidget {
    Q_OBJECT
public:
    explicit CompareView(Session* session, QWidget* parent = nullptr);

    CompareModel* model() const { return model_; }
    QTableView* table() const { return table_; }
    QCustomPlot* barsPlot() const { return bars_; }
    QCustomPlot* stripPlot() const { return strip_; }
    QString aggregatesHtml() const;

    void selectRow(int row);
    // The prompt each condition gives the model for the selected query, as HTML (what the
    // "Rendered prompts" button shows); empty without a selection.
    QString renderedPromptsHtml() const;
    QPushButton* promptsButton() const { return promptsButton_; }

private:
    void refresh();
    void showQuery(int sourceRow);
    void showBars(int sourceRow);
    void showStrip(int sourceRow);

    Session* session_ = nullptr;
    CompareModel* model_ = nullptr;
    QSortFilterProxyModel* proxy_ = nullptr;
    QTableView* table_ = nullptr;
    QLabel* aggregates_ = nullptr;
    QLabel* selected_ = nullptr;
    QCustomPlot* bars_ = nullptr;
    QCustomPlot* strip_ = nullptr;
    QLabel* stripNote_ = nullptr;
    QPushButton* promptsButton_ = nullptr;
    int selectedRow_ = -1;
};

} // namespace spui
