#pragma once
// A thin RAII layer over the sqlite3 C API that turns every failure into an sp::Error saying what
// to do (locked, read-only, corrupt, disk full, ...).
#include "softprompt/error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace sp::store {

// An sp::Error that remembers the SQLite result code, so callers can tell "busy" from the rest.
class DatabaseError : public Error {
public:
    DatabaseError(const std::string& message, int code) : Error(message, Remedy::ChooseDatabase), code_(code)
    {
    }
    int code() const { return code_; }
    bool isBusy() const;

private:
    int code_;
};

// The user-facing message for SQLite result `code` while doing `action` on `path`.
std::string describeSqliteFailure(const std::string& path, int code, const std::string& sqliteMessage,
                                  const std::string& action, int busyTimeoutMs);

class Database {
public:
    Database() = default;
    // Opens an existing file read-write (or creates it when `create`). Throws DatabaseError.
    Database(const std::string& path, bool create, int busyTimeoutMs);
    ~Database();
    Database(Database&& other) noexcept;
    Database& operator=(Database&& other) noexcept;
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    sqlite3* handle() const { return handle_; }
    const std::string& path() const { return path_; }
    int busyTimeoutMs() const { return busyTimeoutMs_; }

    // The file's size and first bytes, read through SQLite's own descriptor. Opening the file a
    // second time (an ifstream) and closing it would drop every POSIX lock this process holds on
    // it, SQLite's included, and let another process checkpoint and delete a WAL that our other
    // connections are still appending to: their later commits would be lost.
    std::int64_t fileSize() const;
    std::string readPrefix(std::size_t bytes) const;

    void exec(const std::string& sql, const std::string& action);
    std::int64_t lastInsertRowId() const;
    int changes() const;
    bool inTransaction() const;
    // Throws the DatabaseError for `code` (must not be SQLITE_OK/ROW/DONE).
    [[noreturn]] void fail(int code, const std::string& action) const;

private:
    void close() noexcept;
    sqlite3* handle_ = nullptr;
    std::string path_;
    int busyTimeoutMs_ = 0;
};

class Statement {
public:
    Statement(Database& database, std::string_view sql);
    ~Statement();
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int index, std::int64_t value);
    Statement& bind(int index, int value) { return bind(index, static_cast<std::int64_t>(value)); }
    Statement& bind(int index, double value); // NaN is stored as NULL (SQLite has no NaN)
    Statement& bind(int index, std::string_view text);
    Statement& bind(int index, const char* text) { return bind(index, std::string_view(text)); }
    Statement& bind(int index, const std::string& text) { return bind(index, std::string_view(text)); }
    Statement& bind(int index, std::optional<std::int64_t> value);
    Statement& bindBlob(int index, std::string_view bytes);
    Statement& bindNull(int index);

    bool step();  // true while a row is available
    void run();   // steps to completion
    void reset(); // ready to bind and run again (bindings kept)

    bool isNull(int column) const;
    std::int64_t integer(int column) const;
    double real(int column) const; // NULL reads back as NaN
    std::string text(int column) const;
    std::string blob(int column) const;
    std::optional<std::int64_t> optionalInteger(int column) const;

private:
    void check(int code, const char* what);
    Database& database_;
    sqlite3_stmt* statement_ = nullptr;
    std::string sql_;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back unless committed. Immediate so that two writers never
// deadlock upgrading a read lock (the busy timeout then simply queues them).
class Transaction {
public:
    explicit Transaction(Database& database, const std::string& action);
    ~Transaction();
    void commit();

private:
    Database& database_;
    std::string action_;
    bool done_ = false;
};

std::int64_t nowMilliseconds();

} // namespace sp::store
