#include "MainWindow.h"

#include "softprompt/version.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QIcon>
#include <QScreen>
#include <QTimer>

int main(int argc, char** argv)
{
    QApplication application(argc, argv);
    QApplication::setApplicationName("softprompt-workbench");
    QApplication::setApplicationDisplayName("SoftPrompt Workbench");
    QApplication::setOrganizationName("softprompt-workbench");
    QApplication::setApplicationVersion(QString::fromStdString(sp::projectVersion()));
    QApplication::setDesktopFileName("softprompt-workbench");
    QApplication::setWindowIcon(QIcon(":/icons/softprompt-workbench.svg"));

    QCommandLineParser parser;
    parser.setApplicationDescription("Compress long prompts into learned soft prompts.");
    parser.addHelpOption();
    parser.addVersionOption();
    QCommandLineOption screenshotOption("screenshot", "Save a screenshot of the window to FILE, then quit.", "FILE");
    QCommandLineOption quitAfterOption("quit-after", "Quit after MS milliseconds (for smoke tests).", "MS");
    parser.addOption(screenshotOption);
    parser.addOption(quitAfterOption);
    parser.process(application);

    spui::MainWindow window;
    window.show();

    const int quitAfterMs = parser.value(quitAfterOption).toInt();
    if (parser.isSet(screenshotOption)) {
        const QString path = parser.value(screenshotOption);
        QTimer::singleShot(quitAfterMs > 0 ? quitAfterMs : 1500, &window, [&window, path] {
            window.grab().save(path);
            QApplication::quit();
        });
    } else if (quitAfterMs > 0) {
        QTimer::singleShot(quitAfterMs, &application, &QApplication::quit);
    }
    return QApplication::exec();
}
