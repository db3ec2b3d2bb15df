#pragma once
// Edits a table cell in a multi-line editor: Enter commits, Shift+Enter inserts a line break (as in
// chat boxes), Esc cancels. Queries such as "User: …↵Assistant:" can then be typed in place.
#include <QStyledItemDelegate>

namespace spui {

class MultiLineDelegate : public QStyledItemDelegate {
    Q_OBJECT
public:
    using QStyledItemDelegate::QStyledItemDelegate;

    QWidget* createEditor(QWidget* parent, const QStyleOptionViewItem& option,
                          const QModelIndex& index) const override;
    void setEditorData(QWidget* editor, const QModelIndex& index) const override;
    void setModelData(QWidget* editor, QAbstractItemModel* model, const QModelIndex& index) const override;
    void updateEditorGeometry(QWidget* editor, const QStyleOptionViewItem& option,
                              const QModelIndex& index) const override;

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;
};

} // namespace spui
