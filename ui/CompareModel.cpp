#include "CompareModel.h"

#include "QtConvert.h"
#include "softprompt/run_recording.h"

#include <QBrush>
#include <QColor>

#include <algorithm>
#include <cmath>

namespace spui {
namespace {

double sigmaS(const sp::QueryEvaluation& query, bool higherIsBetter)
{
    const sp::ConditionOutcome* sigma = findOutcome(query, sp::Condition::SoftPrompt);
    if (!sigma)
        return higherIsBetter ? HUGE_VAL : -HUGE_VAL;
    return sigma->s;
}

QString visibleText(const std::string& text)
{
    if (text.empty())
        return QObject::tr("∅ (ends at once)");
    QString shown = toQ(text);
    shown.replace(QLatin1Char('\n'), QStringLiteral("↵"));
    return shown;
}

} // namespace

CompareModel::CompareModel(QObject* parent) : QAbstractTableModel(parent) {}

void CompareModel::setEvaluation(const sp::Evaluation& evaluation, bool higherIsBetter)
{
    beginResetModel();
    higherIsBetter_ = higherIsBetter;
    rows_ = evaluation.queries;
    std::stable_sort(rows_.begin(), rows_.end(), [higherIsBetter](const auto& a, const auto& b) {
        const double sa = sigmaS(a, higherIsBetter), sb = sigmaS(b, higherIsBetter);
        return higherIsBetter ? sa < sb : sa > sb;
    });
    endResetModel();
}

void CompareModel::clear()
{
    beginResetModel();
    rows_.clear();
    endResetModel();
}

const sp::QueryEvaluation* CompareModel::queryAt(int row) const
{
    return row >= 0 && row < int(rows_.size()) ? &rows_[size_t(row)] : nullptr;
}

int CompareModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : int(rows_.size());
}

int CompareModel::columnCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

sp::Condition CompareModel::conditionOfColumn(int column, bool* ok)
{
    *ok = true;
    switch (column) {
    case FullColumn:
        return sp::Condition::FullContext;
    case SigmaColumn:
        return sp::Condition::SoftPrompt;
    case NoContextColumn:
        return sp::Condition::NoContext;
    case FirstKColumn:
        return sp::Condition::FirstK;
    case LastKColumn:
        return sp::Condition::LastK;
    default:
        *ok = false;
        return sp::Condition::FullContext;
    }
}

QVariant CompareModel::data(const QModelIndex& index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const sp::QueryEvaluation& query = rows_[size_t(index.row())];
    const int column = index.column();
    if (column == QueryColumn) {
        if (role == Qt::DisplayRole || role == SortRole)
            return visibleText(query.query);
        if (role == Qt::ToolTipRole)
            return toQ(query.query) +
                   (query.target.empty() ? QString() : tr("\n\nTarget: %1").arg(toQ(query.target)));
        return {};
    }
    if (column == SplitColumn) {
        if (role == Qt::DisplayRole || role == SortRole)
            return query.heldOut ? tr("held-out") : tr("train");
        return {};
    }
    if (column == SColumn) {
        const sp::ConditionOutcome* sigma = findOutcome(query, sp::Condition::SoftPrompt);
        if (!sigma)
            return {};
        if (role == Qt::DisplayRole)
            return QString::number(sigma->s, 'g', 4);
        if (role == SortRole)
            return sigma->s;
        if (role == Qt::TextAlignmentRole)
            return int(Qt::AlignRight | Qt::AlignVCenter);
        if (role == Qt::ToolTipRole)
            return tr("s(ŷ, ŷ_σ) for this query; KL %1; NLL of ŷ under σ %2")
                .arg(sigma->kl, 0, 'g', 4)
                .arg(sigma->teacherNll, 0, 'g', 4);
        return {};
    }
    bool ok = false;
    const sp::Condition condition = conditionOfColumn(column, &ok);
    const sp::ConditionOutcome* outcome = ok ? findOutcome(query, condition) : nullptr;
    if (!outcome)
        return role == Qt::DisplayRole ? QVariant(tr("–")) : QVariant();
    const bool isTeacher = condition == sp::Condition::FullContext;
    switch (role) {
    case Qt::DisplayRole: {
        const QString mark = isTeacher             ? QString()
                             : outcome->exactMatch ? QStringLiteral("✓ ")
                             : outcome->top1Agrees ? QStringLiteral("≈ ")
                                                   : QStringLiteral("✗ ");
        return mark + visibleText(outcome->prediction);
    }
    case SortRole:
        return isTeacher ? QVariant(visibleText(outcome->prediction))
                         : QVariant(int(outcome->exactMatch) * 2 + int(outcome->top1Agrees));
    case Qt::BackgroundRole:
        if (isTeacher)
            return {};
        return QBrush(outcome->exactMatch   ? QColor(0xd1, 0xf2, 0xd9)
                      : outcome->top1Agrees ? QColor(0xfd, 0xf3, 0xc4)
                                            : QColor(0xf8, 0xd7, 0xda));
    case Qt::ForegroundRole:
        return isTeacher ? QVariant() : QVariant(QBrush(Qt::black));
    case Qt::ToolTipRole:
        return isTeacher
                   ? tr("ŷ: the prediction with the full context (the teacher)")
                   : tr("%1\n%2\ns = %3 · KL = %4")
                         .arg(outcome->exactMatch ? tr("✓ the same continuation as with the full context")
                              : outcome->top1Agrees
                                  ? tr("≈ the first token agrees, the continuation differs")
                                  : tr("✗ the first token differs from the full-context prediction"))
                         .arg(toQ(outcome->prediction))
                         .arg(divergenceText(outcome->s, 4), divergenceText(outcome->kl, 4));
    default:
        return {};
    }
}

QVariant CompareModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation == Qt::Vertical)
        return role == Qt::DisplayRole ? QVariant(section + 1) : QVariant();
    if (role == Qt::ToolTipRole && section == SColumn)
        return higherIsBetter_ ? tr("A similarity: higher is better; worst (lowest) first")
                               : tr("A divergence: lower is better; worst (highest) first");
    if (role != Qt::DisplayRole)
        return {};
    switch (section) {
    case QueryColumn:
        return tr("Query z");
    case SplitColumn:
        return tr("Split");
    case FullColumn:
        return tr("ŷ (full context)");
    case SigmaColumn:
        return tr("ŷ_σ");
    case NoContextColumn:
        return tr("No context");
    case FirstKColumn:
        return tr("Truncated: first k");
    case LastKColumn:
        return tr("Truncated: last k");
    case SColumn:
        return higherIsBetter_ ? tr("s(ŷ, ŷ_σ) ↑") : tr("s(ŷ, ŷ_σ) ↓");
    default:
        return {};
    }
}

Qt::ItemFlags CompareModel::flags(const QModelIndex& index) const
{
    if (!index.isValid())
        return Qt::NoItemFlags;
    return Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemNeverHasChildren;
}

} // namespace spui
