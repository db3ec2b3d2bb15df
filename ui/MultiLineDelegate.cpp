#include "MultiLineDelegate.h"

#include <QAbstractItemView>
#include <QKeyEvent>
#include <QPlainTextEdit>

#include <algorithm>

namespace spui {

QWidget* MultiLineDelegate::createEditor(QWidget* parent, const QStyleOptionViewItem& option,
                                         const QModelIndex& index) const
{
    if (index.data(Qt::EditRole).userType() != QMetaType::QString)
        return QStyledItemDelegate::createEditor(parent, option, index);
    auto* editor = new QPlainTextEdit(parent);
    editor->setObjectName(QStringLiteral("multiLineCellEditor"));
    editor->setTabChangesFocus(true);
    editor->setToolTip(tr("Enter saves · Shift+Enter starts a new line · Esc cancels"));
    editor->installEventFilter(const_cast<MultiLineDelegate*>(this));
    return editor;
}

void MultiLineDelegate::setEditorData(QWidget* editor, const QModelIndex& index) const
{
    if (auto* text = qobject_cast<QPlainTextEdit*>(editor)) {
        text->setPlainText(index.data(Qt::EditRole).toString());
        text->moveCursor(QTextCursor::End);
        return;
    }
    QStyledItemDelegate::setEditorData(editor, index);
}

void MultiLineDelegate::setModelData(QWidget* editor, QAbstractItemModel* model, const QModelIndex& index) const
{
    if (auto* text = qobject_cast<QPlainTextEdit*>(editor)) {
        model->setData(index, text->toPlainText(), Qt::EditRole);
        return;
    }
    QStyledItemDelegate::setModelData(editor, model, index);
}

void MultiLineDelegate::updateEditorGeometry(QWidget* editor, const QStyleOptionViewItem& option,
                                             const QModelIndex& index) const
{
    auto* text = qobject_cast<QPlainTextEdit*>(editor);
    if (!text) {
        QStyledItemDelegate::updateEditorGeometry(editor, option, index);
        return;
    }
    // Room for four lines, growing downwards over the rows below while editing.
    const int lines = std::clamp(int(index.data(Qt::EditRole).toString().count(QLatin1Char('\n'))) + 2, 4, 10);
    QRect rect = option.rect;
    rect.setHeight(std::max(rect.height(), text->fontMetrics().lineSpacing() * lines + 10));
    editor->setGeometry(rect);
}

bool MultiLineDelegate::eventFilter(QObject* watched, QEvent* event)
{
    auto* editor = qobject_cast<QPlainTextEdit*>(watched);
    if (editor && event->type() == QEvent::KeyPress) {
        auto* key = static_cast<QKeyEvent*>(event);
        if (key->key() == Qt::Key_Return || key->key() == Qt::Key_Enter) {
            if (key->modifiers() & Qt::ShiftModifier) {
                editor->insertPlainText(QStringLiteral("\n"));
                return true;
            }
            emit commitData(editor);
            emit closeEditor(editor, QAbstractItemDelegate::NoHint);
            return true;
        }
    }
    return QStyledItemDelegate::eventFilter(watched, event);
}

} // namespace spui
