#pragma once
// The query set being edited: one row per query z, with an optional target and a train/held-out
// mark. The training panel reads it; the runs browser can fill it back from a stored run.
#include "softprompt/engine.h"

#include <QAbstractTableModel>

#include <vector>

namespace spui {

class QueryTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { QueryColumn = 0, TargetColumn, HeldOutColumn, ColumnCount };

    explicit QueryTableModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;
    bool insertRows(int row, int count, const QModelIndex& parent = {}) override;
    bool removeRows(int row, int count, const QModelIndex& parent = {}) override;

    const std::vector<sp::Query>& queries() const { return queries_; }
    // Rows with an empty query are dropped: they cannot be trained on.
    std::vector<sp::Query> nonEmptyQueries() const;
    void setQueries(std::vector<sp::Query> queries);
    void appendQueries(const std::vector<sp::Query>& queries);
    // One query per line; "query<TAB>target" lines (pasted from a spreadsheet) carry a target.
    // Returns how many rows were added.
    int appendPastedText(const QString& text, bool heldOut);
    // Targets for rows [0, targets.size()) in nonEmptyQueries() order.
    void setTargetsOfNonEmpty(const std::vector<std::string>& targets);

    int heldOutCount() const;
    int trainCount() const;

signals:
    void queriesChanged();

private:
    std::vector<sp::Query> queries_;
};

} // namespace spui
