#pragma once
// Help › Workflow guide: a short walk through the workbench, from the context to a shared report.
#include <QString>

class QWidget;

namespace spui {

QString workflowGuideHtml();
// A non-modal window (object name "workflowGuide") that stays open next to the workbench.
QWidget* showWorkflowGuide(QWidget* parent);

} // namespace spui
