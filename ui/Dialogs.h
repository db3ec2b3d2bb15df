#pragma once
// Messages for the user that never block the event loop: the window stays live (training keeps
// drawing) while a message is up, and tests can find the box by its object name.
#include <QMessageBox>
#include <QString>

namespace spui {

// A window-modal box opened with open(), deleted when closed. Object name "messageBox".
inline QMessageBox* showMessage(QWidget* parent, QMessageBox::Icon icon, const QString& title,
                                const QString& text)
{
    auto* box = new QMessageBox(icon, title, text, QMessageBox::Ok, parent);
    box->setObjectName(QStringLiteral("messageBox"));
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->setTextFormat(Qt::AutoText);
    box->setWindowModality(Qt::WindowModal);
    box->open();
    return box;
}

inline QMessageBox* showError(QWidget* parent, const QString& title, const QString& text)
{
    return showMessage(parent, QMessageBox::Warning, title, text);
}

} // namespace spui
