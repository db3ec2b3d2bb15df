#pragma once
// Per-query results of an evaluation, worst first: query | ŷ (full context) | ŷ_σ | no context |
// first k | last k | s, with agreement with the full-context prediction marked in each cell.
#include "softprompt/engine.h"

#include <QAbstractTableModel>

#include <vector>

namespace spui {

class CompareModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column {
        QueryColumn = 0,
        SplitColumn,
        FullColumn,
        SigmaColumn,
        NoContextColumn,
        FirstKColumn,
        LastKColumn,
        SColumn,
        ColumnCount
    };
    // Qt::UserRole: a value to sort by (numbers for s, agreement for predictions).
    static constexpr int SortRole = Qt::UserRole;

    explicit CompareModel(QObject* parent = nullptr);

    // Rows are ordered worst first: largest σ s for a divergence, smallest for a similarity.
    void setEvaluation(const sp::Evaluation& evaluation, bool higherIsBetter);
    void clear();
    const sp::QueryEvaluation* queryAt(int row) const;
    bool higherIsBetter() const { return higherIsBetter_; }

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;

    static sp::Condition conditionOfColumn(int column, bool* ok);

private:
    std::vector<sp::QueryEvaluation> rows_;
    bool higherIsBetter_ = false;
};

} // namespace spui
