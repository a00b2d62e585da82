import Foundation
import GRDB
import TollgateCore

/// The answers kept for a paying client's retries (`paid_response`). An answer is written twice in a settled payment's
/// life: prepared with the settlement intent (`ready = 0`), released with its receipt once the payment settled. The
/// release changes only the headers (the receipt), the flag and the expiry, so it keeps the body where it is: SQLite
/// rewrites a whole row, body and overflow pages, when its size changes, which made a kept answer cost three times its
/// size in the WAL (once with the intent, twice when released).
extension SQLiteStore {
    /// `ready: false` keeps an answer prepared before settlement out of reach until the payment is known to have settled.
    /// Released (`ready: true`) over the very answer prepared for it (same flow, client, request, status and body) when
    /// that body is a page or more (`inPlaceReleaseMinimumBody`), the row changes in place (a flag and an expiry of the
    /// same size) and the headers with the receipt go to `paid_response_headers`; any other answer replaces the row
    /// where it is (an upsert keeps its row and its key's index entry; `INSERT OR REPLACE` deleted and inserted both).
    static func storeResponse(_ response: StoredResponse, key: ProofKey, proofKeyId: Int64, ready: Bool, _ db: Database) throws {
        let headers = response.headersJSON
        if ready, response.body.count >= inPlaceReleaseMinimumBody {
            try db.runRaw(sql: """
                UPDATE paid_response SET ready = 1, expires_at = ?
                WHERE proof_key_id = ? AND correlation_id = ? AND client_id = ? AND request = ? AND status = ?
                  AND payment_identifier IS ? AND body = ?
                """, response.expiresAt, proofKeyId, response.correlationId, response.clientId, response.request, response.status,
                          response.paymentIdentifier, response.body)
            if db.changesCount == 1 {
                try db.runRaw(sql: """
                    INSERT INTO paid_response_headers (proof_key_id, headers) VALUES (?, ?)
                    ON CONFLICT (proof_key_id) DO UPDATE SET headers = excluded.headers
                    """, proofKeyId, headers)
                return
            }
        }
        try db.runRaw(sql: """
            INSERT INTO paid_response (proof_key_id, network, asset, payer, nonce, correlation_id, client_id, request, status, headers, body,
                                       expires_at, ready, payment_identifier)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (proof_key_id) DO UPDATE SET
                correlation_id = excluded.correlation_id, client_id = excluded.client_id, request = excluded.request,
                status = excluded.status, headers = excluded.headers, body = excluded.body, expires_at = excluded.expires_at,
                ready = excluded.ready, payment_identifier = excluded.payment_identifier
            """, proofKeyId, key.network, key.asset, key.payer, key.nonce, response.correlationId, response.clientId, response.request,
                      response.status, headers, response.body, response.expiresAt, ready ? 1 : 0, response.paymentIdentifier)
        // The row holds its own headers again: headers of an earlier release must not be served with another answer.
        try db.runRaw(sql: "DELETE FROM paid_response_headers WHERE proof_key_id = ?", proofKeyId)
    }

    /// Below about a page, a row is rewritten whole for the price of the page it is on: releasing in place would add a
    /// comparison and a second table's entry for nothing (measured: small answers cost a few per cent more that way).
    static let inPlaceReleaseMinimumBody = 4096

    public func storedResponse(_ key: ProofKey, now unixSeconds: Int64) async throws -> StoredResponse? {
        try await writer.read { db in try Self.storedResponse(key, readyOnly: true, now: unixSeconds, db) }
    }

    /// The kept answer, with the headers it was released with when it was (`paid_response_headers`).
    static func storedResponse(_ key: ProofKey, readyOnly: Bool, now unixSeconds: Int64?, _ db: Database) throws -> StoredResponse? {
        guard let row = try Row.fetchOne(cached: db, sql: """
            SELECT p.*, h.headers AS released_headers FROM paid_response p
              LEFT JOIN paid_response_headers h ON h.proof_key_id = p.proof_key_id
            WHERE p.\(Self.byProofKey) AND p.expires_at >= ? AND p.ready >= ?
            """, arguments: [key.network, key.asset, key.payer, key.nonce, unixSeconds ?? Int64.min, readyOnly ? 1 : 0]) else { return nil }
        let text = (row["released_headers"] as String?) ?? row["headers"]
        let headers = (try? JSONDecoder().decode([[String]].self, from: Data(text.utf8))) ?? []
        return StoredResponse(correlationId: row["correlation_id"], clientId: row["client_id"], request: row["request"],
                              status: row["status"], headers: headers, body: Array(row["body"] as Data), expiresAt: row["expires_at"],
                              paymentIdentifier: row["payment_identifier"])
    }

    /// `v16`: the headers an answer is released with, kept beside it (`storeResponse`), and gone with it. A reader of
    /// `paid_response` takes these first (`COALESCE(h.headers, p.headers)`): the row's own column keeps the headers it was
    /// prepared with. A migration that rebuilds `paid_response` must create the trigger again (`KeptAnswerTests`).
    static func migrateReleasedAnswerHeaders(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE paid_response_headers (proof_key_id INTEGER NOT NULL PRIMARY KEY, headers TEXT NOT NULL) WITHOUT ROWID;
            CREATE TRIGGER paid_response_headers_deleted AFTER DELETE ON paid_response
            BEGIN
                DELETE FROM paid_response_headers WHERE proof_key_id = old.proof_key_id;
            END;
            """)
    }
}
