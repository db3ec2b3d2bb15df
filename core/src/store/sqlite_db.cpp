#include "store/sqlite_db.h"

#include <sqlite3.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <utility>

namespace sp::store {

bool DatabaseError::isBusy() const
{
    const int primary = code_ & 0xff;
    return primary == SQLITE_BUSY || primary == SQLITE_LOCKED;
}

std::string describeSqliteFailure(const std::string& path, int code, const std::string& sqliteMessage,
                                  const std::string& action, int busyTimeoutMs)
{
    const std::string where = "run database " + path + ": ";
    const std::string detail = " (SQLite: " + sqliteMessage + ")";
    switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return where + "locked by another program while " + action + "; waited " +
               std::to_string(busyTimeoutMs / 1000.0).substr(0, 4) +
               " s. Another softprompt, softprompt-workbench or sqlite3 session is holding it: let it "
               "finish or close it, then try again, or choose another database file" +
               detail;
    case SQLITE_READONLY:
        return where + "cannot be written while " + action +
               ": the file or its folder is read-only. Make both writable (chmod u+w), or choose another "
               "database file" +
               detail;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return where + "the file is damaged or is not a SQLite database (found while " + action +
               "). It was left exactly as it is: keep a copy, try `sqlite3 " + path +
               " .recover` to rescue its runs, and choose a new database file" + detail;
    case SQLITE_FULL:
        return where + "the disk is full while " + action +
               ". Everything saved before this point is kept; free some space and try again" + detail;
    case SQLITE_IOERR:
        return where + "input/output error while " + action +
               ". Check the disk (and that it is not a network share: WAL needs a local file system), "
               "or choose another database file" +
               detail;
    case SQLITE_CANTOPEN:
        return where + "cannot open the file while " + action +
               ": check that its folder exists and is writable, or choose another location" + detail;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return where + "permission denied while " + action +
               ". Check the file's permissions, or choose another database file" + detail;
    case SQLITE_CONSTRAINT:
        return where + "a consistency rule of the store was broken while " + action + detail;
    default:
        return where + "SQLite error while " + action + detail;
    }
}

Database::Database(const std::string& path, bool create, int busyTimeoutMs)
    : path_(path), busyTimeoutMs_(busyTimeoutMs)
{
    const int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_FULLMUTEX;
    const int code = sqlite3_open_v2(path.c_str(), &handle_, flags, nullptr);
    if (code != SQLITE_OK) {
        const std::string message = handle_ ? sqlite3_errmsg(handle_) : sqlite3_errstr(code);
        close();
        throw DatabaseError(describeSqliteFailure(path, code, message, "opening it", busyTimeoutMs), code);
    }
    sqlite3_extended_result_codes(handle_, 1);
    sqlite3_busy_timeout(handle_, busyTimeoutMs);
}

Database::~Database()
{
    close();
}

Database::Database(Database&& other) noexcept
    : handle_(std::exchange(other.handle_, nullptr)), path_(std::move(other.path_)),
      busyTimeoutMs_(other.busyTimeoutMs_)
{
}

Database& Database::operator=(Database&& other) noexcept
{
    if (this != &other) {
        close();
        handle_ = std::exchange(other.handle_, nullptr);
        path_ = std::move(other.path_);
        busyTimeoutMs_ = other.busyTimeoutMs_;
    }
    return *this;
}

void Database::close() noexcept
{
    if (handle_) {
        // sqlite3_close_v2 defers the close until unfinalized statements are gone; every Statement
        // is finalized by its destructor, so this closes now.
        sqlite3_close_v2(handle_);
        handle_ = nullptr;
    }
}

namespace {

sqlite3_file* mainFile(sqlite3* handle)
{
    sqlite3_file* file = nullptr;
    if (sqlite3_file_control(handle, "main", SQLITE_FCNTL_FILE_POINTER, &file) != SQLITE_OK || !file ||
        !file->pMethods)
        return nullptr;
    return file;
}

} // namespace

std::int64_t Database::fileSize() const
{
    sqlite3_file* file = mainFile(handle_);
    sqlite3_int64 size = 0;
    if (!file || file->pMethods->xFileSize(file, &size) != SQLITE_OK)
        fail(SQLITE_IOERR, "reading its size");
    return size;
}

std::string Database::readPrefix(std::size_t bytes) const
{
    sqlite3_file* file = mainFile(handle_);
    std::string prefix(bytes, '\0');
    // xRead fills a short read with zeros and says SQLITE_IOERR_SHORT_READ; callers check the size.
    if (!file)
        fail(SQLITE_IOERR, "reading its header");
    const int code = file->pMethods->xRead(file, prefix.data(), static_cast<int>(bytes), 0);
    if (code != SQLITE_OK && code != SQLITE_IOERR_SHORT_READ)
        fail(code, "reading its header");
    return prefix;
}

void Database::exec(const std::string& sql, const std::string& action)
{
    char* message = nullptr;
    const int code = sqlite3_exec(handle_, sql.c_str(), nullptr, nullptr, &message);
    if (code != SQLITE_OK) {
        const std::string text = message ? message : sqlite3_errstr(code);
        sqlite3_free(message);
        throw DatabaseError(describeSqliteFailure(path_, code, text, action, busyTimeoutMs_), code);
    }
}

std::int64_t Database::lastInsertRowId() const
{
    return sqlite3_last_insert_rowid(handle_);
}

int Database::changes() const
{
    return sqlite3_changes(handle_);
}

bool Database::inTransaction() const
{
    return sqlite3_get_autocommit(handle_) == 0;
}

void Database::fail(int code, const std::string& action) const
{
    throw DatabaseError(describeSqliteFailure(path_, code, sqlite3_errmsg(handle_), action, busyTimeoutMs_),
                        code);
}

Statement::Statement(Database& database, std::string_view sql) : database_(database), sql_(sql)
{
    const int code =
        sqlite3_prepare_v2(database.handle(), sql.data(), static_cast<int>(sql.size()), &statement_, nullptr);
    if (code != SQLITE_OK)
        database.fail(code, "preparing a query");
}

Statement::~Statement()
{
    sqlite3_finalize(statement_);
}

void Statement::check(int code, const char* what)
{
    if (code != SQLITE_OK)
        database_.fail(code, what);
}

Statement& Statement::bind(int index, std::int64_t value)
{
    check(sqlite3_bind_int64(statement_, index, value), "binding a value");
    return *this;
}

Statement& Statement::bind(int index, double value)
{
    if (std::isnan(value))
        return bindNull(index);
    check(sqlite3_bind_double(statement_, index, value), "binding a value");
    return *this;
}

Statement& Statement::bind(int index, std::string_view text)
{
    check(sqlite3_bind_text64(statement_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
          "binding a value");
    return *this;
}

Statement& Statement::bind(int index, std::optional<std::int64_t> value)
{
    return value ? bind(index, *value) : bindNull(index);
}

Statement& Statement::bindBlob(int index, std::string_view bytes)
{
    check(sqlite3_bind_blob64(statement_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT),
          "binding a value");
    return *this;
}

Statement& Statement::bindNull(int index)
{
    check(sqlite3_bind_null(statement_, index), "binding a value");
    return *this;
}

bool Statement::step()
{
    const int code = sqlite3_step(statement_);
    if (code == SQLITE_ROW)
        return true;
    if (code == SQLITE_DONE)
        return false;
    // Reset so the statement can be retried, then report the step's own error code.
    sqlite3_reset(statement_);
    database_.fail(code, "running a query");
}

void Statement::run()
{
    while (step()) {
    }
}

void Statement::reset()
{
    sqlite3_reset(statement_);
}

bool Statement::isNull(int column) const
{
    return sqlite3_column_type(statement_, column) == SQLITE_NULL;
}

std::int64_t Statement::integer(int column) const
{
    return sqlite3_column_int64(statement_, column);
}

double Statement::real(int column) const
{
    if (isNull(column))
        return std::numeric_limits<double>::quiet_NaN();
    return sqlite3_column_double(statement_, column);
}

std::string Statement::text(int column) const
{
    const auto* data = reinterpret_cast<const char*>(sqlite3_column_text(statement_, column));
    return data ? std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)))
                : std::string();
}

std::string Statement::blob(int column) const
{
    const auto* data = static_cast<const char*>(sqlite3_column_blob(statement_, column));
    return data ? std::string(data, static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)))
                : std::string();
}

std::optional<std::int64_t> Statement::optionalInteger(int column) const
{
    if (isNull(column))
        return std::nullopt;
    return integer(column);
}

Transaction::Transaction(Database& database, const std::string& action) : database_(database), action_(action)
{
    database_.exec("BEGIN IMMEDIATE", action);
}

Transaction::~Transaction()
{
    // SQLite may already have rolled back on its own (SQLITE_FULL, SQLITE_IOERR): then there is
    // nothing left to roll back.
    if (!done_ && database_.inTransaction())
        sqlite3_exec(database_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}

void Transaction::commit()
{
    database_.exec("COMMIT", action_);
    done_ = true;
}

std::int64_t nowMilliseconds()
{
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

} // namespace sp::store
