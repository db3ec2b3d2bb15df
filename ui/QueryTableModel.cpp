#include "QueryTableModel.h"

#include "QtConvert.h"

#include <algorithm>

namespace spui {

QueryTableModel::QueryTableModel(QObject* parent) : QAbstractTableModel(parent)
{
    connect(this, &QAbstractItemModel::dataChanged, this, &QueryTableModel::queriesChanged);
    connect(this, &QAbstractItemModel::rowsInserted, this, &QueryTableModel::queriesChanged);
    connect(this, &QAbstractItemModel::rowsRemoved, this, &QueryTableModel::queriesChanged);
    connect(this, &QAbstractItemModel::modelReset, this, &QueryTableModel::queriesChanged);
}

int QueryTableModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : int(queries_.size());
}

int QueryTableModel::columnCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant QueryTableModel::data(const QModelIndex& index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const sp::Query& query = queries_[size_t(index.row())];
    switch (index.column()) {
    case QueryColumn:
        if (role == Qt::DisplayRole) // one line per query; the editor shows the real line breaks
            return toQ(query.text).replace(QLatin1Char('\n'), QStringLiteral(" ↵ "));
        if (role == Qt::EditRole || role == Qt::ToolTipRole)
            return toQ(query.text);
        break;
    case TargetColumn:
        if (role == Qt::DisplayRole)
            return toQ(query.target).replace(QLatin1Char('\n'), QStringLiteral(" ↵ "));
        if (role == Qt::EditRole)
            return toQ(query.target);
        if (role == Qt::ToolTipRole)
            return query.target.empty() ? tr("No target: the teacher's own prediction is the target")
                                        : toQ(query.target);
        break;
    case HeldOutColumn:
        if (role == Qt::CheckStateRole)
            return query.heldOut ? Qt::Checked : Qt::Unchecked;
        if (role == Qt::DisplayRole)
            return query.heldOut ? tr("held-out") : tr("train");
        if (role == Qt::ToolTipRole)
            return tr("Held-out queries are never trained on: they measure how σ generalises");
        break;
    default:
        break;
    }
    return {};
}

bool QueryTableModel::setData(const QModelIndex& index, const QVariant& value, int role)
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return false;
    sp::Query& query = queries_[size_t(index.row())];
    if (index.column() == HeldOutColumn && role == Qt::CheckStateRole) {
        query.heldOut = value.value<Qt::CheckState>() == Qt::Checked;
    } else if (index.column() == QueryColumn && role == Qt::EditRole) {
        query.text = toStd(value.toString());
    } else if (index.column() == TargetColumn && role == Qt::EditRole) {
        query.target = toStd(value.toString());
    } else {
        return false;
    }
    emit dataChanged(index, index, {role, Qt::DisplayRole});
    return true;
}

QVariant QueryTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (role != Qt::DisplayRole)
        return {};
    if (orientation == Qt::Vertical)
        return section + 1;
    switch (section) {
    case QueryColumn:
        return tr("Query z");
    case TargetColumn:
        return tr("Target (optional)");
    case HeldOutColumn:
        return tr("Split");
    default:
        return {};
    }
}

Qt::ItemFlags QueryTableModel::flags(const QModelIndex& index) const
{
    if (!index.isValid())
        return Qt::NoItemFlags;
    Qt::ItemFlags flags = Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemNeverHasChildren;
    if (index.column() == HeldOutColumn)
        return flags | Qt::ItemIsUserCheckable;
    return flags | Qt::ItemIsEditable;
}

bool QueryTableModel::insertRows(int row, int count, const QModelIndex& parent)
{
    if (parent.isValid() || row < 0 || row > rowCount() || count <= 0)
        return false;
    beginInsertRows(parent, row, row + count - 1);
    queries_.insert(queries_.begin() + row, size_t(count), sp::Query{});
    endInsertRows();
    return true;
}

bool QueryTableModel::removeRows(int row, int count, const QModelIndex& parent)
{
    if (parent.isValid() || row < 0 || count <= 0 || row + count > rowCount())
        return false;
    beginRemoveRows(parent, row, row + count - 1);
    queries_.erase(queries_.begin() + row, queries_.begin() + row + count);
    endRemoveRows();
    return true;
}

std::vector<sp::Query> QueryTableModel::nonEmptyQueries() const
{
    std::vector<sp::Query> kept;
    for (const sp::Query& query : queries_)
        if (!QString::fromStdString(query.text).trimmed().isEmpty())
            kept.push_back(query);
    return kept;
}

void QueryTableModel::setQueries(std::vector<sp::Query> queries)
{
    beginResetModel();
    queries_ = std::move(queries);
    endResetModel();
}

void QueryTableModel::appendQueries(const std::vector<sp::Query>& queries)
{
    if (queries.empty())
        return;
    const int first = rowCount();
    beginInsertRows({}, first, first + int(queries.size()) - 1);
    queries_.insert(queries_.end(), queries.begin(), queries.end());
    endInsertRows();
}

int QueryTableModel::appendPastedText(const QString& text, bool heldOut)
{
    std::vector<sp::Query> pasted;
    for (const QString& rawLine : text.split(QLatin1Char('\n'))) {
        QString line = rawLine;
        if (line.endsWith(QLatin1Char('\r')))
            line.chop(1);
        if (line.trimmed().isEmpty())
            continue;
        sp::Query query;
        const int tab = line.indexOf(QLatin1Char('\t'));
        query.text = toStd(tab < 0 ? line : line.left(tab));
        if (tab >= 0)
            query.target = toStd(line.mid(tab + 1).section(QLatin1Char('\t'), 0, 0));
        query.heldOut = heldOut;
        pasted.push_back(std::move(query));
    }
    appendQueries(pasted);
    return int(pasted.size());
}

void QueryTableModel::setTargetsOfNonEmpty(const std::vector<std::string>& targets)
{
    size_t next = 0;
    for (size_t row = 0; row < queries_.size() && next < targets.size(); ++row) {
        if (QString::fromStdString(queries_[row].text).trimmed().isEmpty())
            continue;
        queries_[row].target = targets[next++];
    }
    if (!queries_.empty())
        emit dataChanged(index(0, TargetColumn), index(rowCount() - 1, TargetColumn));
}

int QueryTableModel::heldOutCount() const
{
    return int(std::count_if(queries_.begin(), queries_.end(), [](const sp::Query& q) { return q.heldOut; }));
}

int QueryTableModel::trainCount() const
{
    return rowCount() - heldOutCount();
}

} // namespace spui
