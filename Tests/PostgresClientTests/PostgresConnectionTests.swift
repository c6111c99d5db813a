import Foundation
import PostgresClient
import Testing
#if canImport(Glibc)
import Glibc
#endif
import TestSupport

@Suite("PostgreSQL connection over libpq")
struct PostgresConnectionTests {
    @Test("binary parameters and results round-trip every supported type")
    func roundTripTypes() async throws {
        try await TestDatabase.withDatabase(migrated: false) { pool, _ in
            let id = UUID()
            let now = Date(timeIntervalSince1970: 1_764_964_102.123456)
            let row = try await pool.query(
                "SELECT $1::int8, $2::int4, $3::int2, $4::text, $5::bool, $6::uuid, $7::timestamptz, $8::bytea, $9::jsonb, $10::text",
                Int64.max, Int32.min, Int16(-7), "héllo – ’", true, id, now, PostgresBytes([0, 1, 255]), PostgresJSONB("{\"a\": 1}"), nil
            )[0]
            #expect(try row.decode(Int64.self, at: 0) == Int64.max)
            #expect(try row.decode(Int32.self, at: 1) == Int32.min)
            #expect(try row.decode(Int16.self, at: 2) == -7)
            #expect(try row.decode(String.self, at: 3) == "héllo – ’")
            #expect(try row.decode(Bool.self, at: 4))
            #expect(try row.decode(UUID.self, at: 5) == id)
            #expect(abs(try row.decode(Date.self, at: 6).timeIntervalSince(now)) < 0.000_001)
            #expect(try row.decode(PostgresBytes.self, at: 7).bytes == [0, 1, 255])
            #expect(try row.decode(String.self, at: 8) == "{\"a\": 1}")
            #expect(try row.decode(String?.self, at: 9) == nil)
            #expect(throws: PostgresError.self) { try row.decode(String.self, at: 9) }
        }
    }

    @Test("array parameters, including NULL elements and empty arrays")
    func arrays() async throws {
        try await TestDatabase.withDatabase(migrated: false) { pool, _ in
            let ids = [UUID(), UUID()]
            let row = try await pool.query(
                "SELECT array_length($1::uuid[], 1), $2::int4[] IS NOT NULL AND cardinality($2::int4[]) = 0, ($3::int4[])[2] IS NULL, ($4::text[])[2], ($5::bytea[])[1]",
                PostgresArray(ids), PostgresArray([Int32]()), PostgresArray<Int32>([1, nil, 3]), PostgresArray(["a", "b"]), PostgresArray([PostgresBytes([9, 9])])
            )[0]
            #expect(try row.decode(Int32.self, at: 0) == 2)
            #expect(try row.decode(Bool.self, at: 1))
            #expect(try row.decode(Bool.self, at: 2))
            #expect(try row.decode(String.self, at: 3) == "b")
            #expect(try row.decode(PostgresBytes.self, at: 4).bytes == [9, 9])
        }
    }

    @Test("server errors carry SQLSTATE, message and constraint name")
    func serverErrors() async throws {
        try await TestDatabase.withDatabase(migrated: false) { pool, _ in
            try await pool.withConnection { connection in
                try await connection.execute("CREATE TABLE t (id int CONSTRAINT t_pk PRIMARY KEY)")
                try await connection.query("INSERT INTO t VALUES ($1)", Int32(1))
                do {
                    try await connection.query("INSERT INTO t VALUES ($1)", Int32(1))
                    Issue.record("a duplicate key was accepted")
                } catch let error as PostgresError {
                    #expect(error.sqlState == "23505")
                    #expect(error.constraint == "t_pk")
                    #expect(error.kind == .server)
                }
                // The connection is still usable after a failed statement.
                #expect(try await connection.query("SELECT count(*) FROM t")[0].decode(Int64.self, at: 0) == 1)
                await #expect(throws: PostgresError.self) { try await connection.query("SELEC 1") }
            }
        }
    }

    @Test("transactions commit, and roll back when the body throws")
    func transactions() async throws {
        struct Boom: Error {}
        try await TestDatabase.withDatabase(migrated: false) { pool, _ in
            try await pool.query("CREATE TABLE t (v int)")
            try await pool.withTransaction { try await $0.query("INSERT INTO t VALUES (1)") }
            await #expect(throws: Boom.self) {
                try await pool.withTransaction { connection in
                    try await connection.query("INSERT INTO t VALUES (2)")
                    throw Boom()
                }
            }
            #expect(try await pool.query("SELECT count(*) FROM t")[0].decode(Int64.self, at: 0) == 1)
        }
    }

    @Test("a pipeline runs BEGIN, queries and COMMIT in one round trip; a failing statement skips the rest and throws, and the connection stays usable")
    func pipeline() async throws {
        try await TestDatabase.withDatabase(migrated: false, maximumConnections: 1) { pool, _ in
            try await pool.query("CREATE TABLE p (v int PRIMARY KEY)")
            let rows = try await pool.withConnection { connection in
                try await connection.run { connection in
                    try connection.pipeline([.init("BEGIN"), .init("INSERT INTO p VALUES ($1), ($2) RETURNING v", [Int32(1), Int32(2)]),
                                             .init("SELECT count(*) FROM p"), .init("COMMIT")])
                }
            }
            let counted = try rows[2][0].decode(Int64.self, at: 0)
            #expect(rows.count == 4 && rows[1].count == 2 && counted == 2)
            // A duplicate key in the middle: the error is the server's, the insert after it never ran, nothing commits.
            let failure = await #expect(throws: PostgresError.self) {
                try await pool.withConnection { connection in
                    try await connection.run { connection in
                        do {
                            try connection.pipeline([.init("BEGIN"), .init("INSERT INTO p VALUES ($1)", [Int32(3)]),
                                                     .init("INSERT INTO p VALUES ($1)", [Int32(1)]), .init("INSERT INTO p VALUES ($1)", [Int32(4)]),
                                                     .init("COMMIT")])
                        } catch {
                            connection.rollbackIfConnected()
                            throw error
                        }
                    }
                }
            }
            #expect(failure?.sqlState == "23505")
            #expect(try await pool.query("SELECT array_agg(v ORDER BY v)::text FROM p")[0].decode(String.self, at: 0) == "{1,2}")
        }
    }

    @Test("a connection the server dropped is detected and re-established by the pool")
    func reconnectAfterTermination() async throws {
        try await TestDatabase.withDatabase(migrated: false, maximumConnections: 1) { pool, settings in
            let firstPID = try await pool.withConnection { try await $0.backendPID() }
            let admin = try await PostgresConnection.connect(settings)
            let terminated = try await admin.query("SELECT pg_terminate_backend($1)", firstPID)[0].decode(Bool.self, at: 0)
            #expect(terminated)
            // Gone from pg_stat_activity is not enough: the backend leaves it (and has sent
            // its FATAL message) before it exits and its socket closes, and on a busy machine
            // the pool once checked the connection in between and found it alive. Wait for
            // the process itself to be gone (this host runs the server): then the close is in
            // the pool's socket, and the checkout must see it.
            try await Deadline.wait(for: "the terminated backend process \(firstPID) to exit", within: .seconds(60)) {
                let signalled = kill(firstPID, 0), error = errno
                if signalled != 0 && error == ESRCH { return true }
                // Another user's process (not run as root or as postgres): what the server says.
                if signalled != 0 && error == EPERM {
                    return try await admin.query("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", firstPID)[0].decode(Int64.self, at: 0) == 0
                }
                return false
            }
            let secondPID = try await pool.withConnection { try await $0.backendPID() }
            #expect(secondPID != firstPID)
            #expect(try await pool.query("SELECT 41 + 1")[0].decode(Int.self, at: 0) == 42)
            await admin.close()
        }
    }

    @Test("a pool of 2 serves 40 concurrent callers")
    func poolWaiters() async throws {
        try await TestDatabase.withDatabase(migrated: false, maximumConnections: 2) { pool, _ in
            let sum = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<40 {
                    group.addTask { try await pool.query("SELECT $1::int8 FROM pg_sleep(0.005)", Int64(i))[0].decode(Int.self, at: 0) }
                }
                return try await group.reduce(0, +)
            }
            #expect(sum == (0..<40).reduce(0, +))
        }
    }

    @Test("a bad connection string fails with a connection error naming the cause")
    func connectFailure() async throws {
        await #expect(throws: PostgresError.self) {
            _ = try await PostgresConnection.connect(ConnectionSettings("host=/nonexistent/socket/dir dbname=x connect_timeout=2"))
        }
    }

    @Test("COPY FROM STDIN loads rows")
    func copyIn() async throws {
        try await TestDatabase.withDatabase(migrated: false) { pool, _ in
            let copied = try await pool.withConnection { connection in
                try await connection.execute("CREATE TABLE t (a int, b text)")
                return try await connection.copyIn("COPY t FROM STDIN", data: [Array("1\tone\n2\ttwo\n".utf8)])
            }
            #expect(copied == 2)
            #expect(try await pool.query("SELECT string_agg(b, ',' ORDER BY a) FROM t")[0].decode(String.self, at: 0) == "one,two")
        }
    }

    @Test("settings hide the password and switch databases")
    func settings() {
        let url = ConnectionSettings("postgresql://app:secret@localhost:5432/db?sslmode=disable")
        #expect(!url.description.contains("secret"))
        #expect(url.withDatabase("other").conninfo == "postgresql://app:secret@localhost:5432/other?sslmode=disable")
        let pairs = ConnectionSettings("host=/tmp password=secret dbname=db")
        #expect(!pairs.description.contains("secret"))
    }
}
