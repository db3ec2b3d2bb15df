#pragma once
// Data rows of test_chat_template: each adds QTest rows with the columns its test function declares.
void addRenderCases();       // source, variables (JSON), expected
void addRenderErrorCases();  // source, variables, construct, line, column, raisedMessage
void addSyntaxErrorCases();  // source, construct, line, column
