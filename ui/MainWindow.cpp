#include "MainWindow.h"

#include "softprompt/version.h"

#include <QApplication>
#include <QLabel>
#include <QMenuBar>
#include <QMessageBox>
#include <QStatusBar>
#include <QTabWidget>

namespace spui {

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent)
{
    setObjectName("mainWindow");
    setWindowTitle(tr("SoftPrompt Workbench"));
    tabs_ = new QTabWidget(this);
    tabs_->setObjectName("mainTabs");
    setCentralWidget(tabs_);
    buildMenus();

    const sp::BuildInfo info = sp::buildInfo();
    deviceLabel_ = new QLabel(this);
    deviceLabel_->setObjectName("deviceLabel");
    deviceLabel_->setText(
        tr("LibTorch %1 · %2")
            .arg(QString::fromStdString(info.torchVersion),
                 info.cudaAvailable ? tr("CUDA available") : tr("CPU only (%1 threads)").arg(info.cpuThreads)));
    statusBar()->addPermanentWidget(deviceLabel_);
    resize(1280, 800);
}

void MainWindow::buildMenus()
{
    QMenu* fileMenu = menuBar()->addMenu(tr("&File"));
    QAction* quitAction = fileMenu->addAction(tr("&Quit"), this, &QWidget::close);
    quitAction->setShortcut(QKeySequence::Quit);
    QMenu* helpMenu = menuBar()->addMenu(tr("&Help"));
    helpMenu->addAction(tr("&About"), this, &MainWindow::showAbout);
}

void MainWindow::showAbout()
{
    const sp::BuildInfo info = sp::buildInfo();
    QMessageBox::about(this, tr("About SoftPrompt Workbench"),
                       tr("<b>SoftPrompt Workbench %1</b><p>Compress long prompts into learned soft prompts."
                          "<p>LibTorch %2, CUDA %3.")
                           .arg(QString::fromStdString(info.projectVersion),
                                QString::fromStdString(info.torchVersion),
                                info.cudaAvailable ? tr("available") : tr("not available")));
}

} // namespace spui
