#pragma once
#include <string>

namespace sp {

// The folder that holds the demo model and examples. Looked up, in order:
//   $SOFTPROMPT_DATA_DIR;
//   <executable>/../share/softprompt-workbench (an installed tree);
//   the source tree's resources/ (running from the build tree).
// Throws sp::Error listing the places it tried when none has a demo-model/ folder.
std::string dataDirectory();
std::string demoModelDirectory(); // dataDirectory()/demo-model
std::string examplesDirectory();  // dataDirectory()/examples

// $XDG_DATA_HOME/softprompt-workbench/runs.sqlite, or ~/.local/share/... when it is unset.
// The folder is created when missing, unless createFolder is false (commands that only read runs
// must leave no trace when there are none).
std::string defaultDatabasePath(bool createFolder = true);

std::string executablePath();
std::string readTextFile(const std::string& path); // throws sp::Error naming the file
void writeTextFile(const std::string& path, const std::string& text);

} // namespace sp
