#pragma once
#include <QMainWindow>

class QTabWidget;
class QLabel;

namespace spui {

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    explicit MainWindow(QWidget* parent = nullptr);

private:
    void buildMenus();
    void showAbout();

    QTabWidget* tabs_ = nullptr;
    QLabel* deviceLabel_ = nullptr;
};

} // namespace spui
