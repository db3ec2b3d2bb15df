#pragma once
// The query set: a table of queries z with an optional target and a train/held-out mark; add,
// remove, paste many, import/export JSONL and CSV, and fill targets from the teacher.
#include <QWidget>

class QLabel;
class QLineEdit;
class QPushButton;
class QSpinBox;
class QTableView;

namespace spui {

class Session;

class QueryEditor : public QWidget {
    Q_OBJECT
public:
    explicit QueryEditor(Session* session, QWidget* parent = nullptr);

    QTableView* table() const { return table_; }

    void addQuery();
    void removeSelected();
    // Opens the "paste many" dialog (empty: the clipboard may hold anything, such as the context);
    // tests call pasteMany(text, heldOut) directly. Pasted lines go through the query template and
    // skip duplicates; lastNotice() says what happened.
    void showPasteDialog();
    int pasteMany(const QString& text, bool heldOut);
    QString lastNotice() const;

    // The template as typed, with "\n" for a line break; shown above the table.
    static QString escapeTemplate(const QString& queryTemplate);
    static QString unescapeTemplate(const QString& typed);
    void markSelected(bool heldOut);

    bool importFile(const QString& path, bool heldOut, bool replace, QString* error = nullptr);
    bool exportFile(const QString& path, QString* error = nullptr);
    void importWithDialog(bool heldOut);
    void exportWithDialog();
    void fillTargetsFromTeacher();

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;

private:
    void updateCounts();
    void updateEnabled();
    void setNotice(const QString& notice);
    void applyTypedTemplate();

    Session* session_ = nullptr;
    QTableView* table_ = nullptr;
    QLabel* countLabel_ = nullptr;
    QSpinBox* targetLength_ = nullptr;
    QPushButton* fillButton_ = nullptr;
    QLineEdit* template_ = nullptr;
    QLabel* notice_ = nullptr;
};

} // namespace spui
