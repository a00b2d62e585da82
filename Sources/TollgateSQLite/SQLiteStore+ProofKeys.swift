import GRDB
import TollgateCore

/// One row per authorization ever presented (`proof_key`), referenced by id from the rows of its flow.
///
/// Each of the five tables that hold a flow's rows (claim, evidence, settlement intent, kept answer, ledger row) used to
/// index the authorization itself: network, asset, payer and nonce, a random key, so every paid request added entries at
/// random pages of eight indexes (the four keys, and the nonce and payer of the ledger and of the evidence for support's
/// lookups), about half of the pages its commits wrote. The authorization is now indexed once, in `proof_key`, by value
/// (nonce first: support looks flows up by nonce) and by payer (folded case, as support and spend summaries look them
/// up); the five tables index its id instead, which grows with every new authorization, so their entries share the
/// indexes' last pages. A `proof_key` row, once referenced, is never deleted (like the ledger's), so a key keeps its id
/// across a release and a later claim, and the ledger's once-per-authorization check holds for ever; the one a failed
/// claim added is removed in the same write, before anything can reference it.
///
/// The migration rewrites every ledger and evidence row once (about 4 s per 100,000 paid flows), in the transaction
/// that opens the database: docs/configuration.md says so where it describes the store.
///
/// Values are kept as written (no case folding), as each table's own key was: the lookups find exactly what they found.
extension SQLiteStore {
    /// The condition `proof_key_id = <the id of an authorization>`, binding network, asset, payer and nonce in that order:
    /// the four values every statement keyed by authorization binds. An authorization never seen matches nothing.
    static let byProofKey = "proof_key_id = (SELECT id FROM proof_key WHERE network = ? AND asset = ? AND payer = ? AND nonce = ?)"

    /// The id of an authorization's row, added on first use; `added` says whether this call added it.
    static func proofKeyId(network: String, asset: String, payer: String, nonce: String,
                           _ db: Database) throws -> (id: Int64, added: Bool) {
        try db.runRaw(sql: "INSERT INTO proof_key (network, asset, payer, nonce) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                      network, asset, payer, nonce)
        if db.changesCount == 1 { return (db.lastInsertedRowID, true) }
        guard let id = try recordedProofKeyId(network: network, asset: asset, payer: payer, nonce: nonce, db)
        else { throw TollgateError(.storeUnavailable, "the authorization \(network)/\(asset)/\(payer)/\(nonce) was not recorded") }
        return (id, false)
    }

    static func proofKeyId(_ key: ProofKey, _ db: Database) throws -> (id: Int64, added: Bool) {
        try proofKeyId(network: key.network, asset: key.asset, payer: key.payer, nonce: key.nonce, db)
    }

    /// The id of an authorization already recorded (its claim recorded it), nil for one never seen: one lookup in
    /// `proof_key_value`, where `byProofKey` in each statement of a write would make one per statement.
    static func recordedProofKeyId(_ key: ProofKey, _ db: Database) throws -> Int64? {
        try recordedProofKeyId(network: key.network, asset: key.asset, payer: key.payer, nonce: key.nonce, db)
    }

    /// The id of an authorization a flow's claim normally recorded: looked up first, added only when it was not (one
    /// lookup where `proofKeyId` makes a refused insert and a lookup).
    static func flowProofKeyId(_ key: ProofKey, _ db: Database) throws -> Int64 {
        if let id = try recordedProofKeyId(key, db) { return id }
        return try proofKeyId(key, db).id
    }

    /// `recordedProofKeyId` of the four values as they are (not folded: `ProofKey` folds case, a ledger row keeps its own).
    static func recordedProofKeyId(network: String, asset: String, payer: String, nonce: String, _ db: Database) throws -> Int64? {
        try db.firstRaw(sql: "SELECT id FROM proof_key WHERE network = ? AND asset = ? AND payer = ? AND nonce = ?",
                        network, asset, payer, nonce, read: { RawStatement.int64($0, 0) })
    }

    /// `v15`: the authorizations of every existing row into `proof_key`, each row given its id. The claims, intents and
    /// kept answers (short-lived, small) are rebuilt with `proof_key_id NOT NULL` and unique, so the database itself
    /// still refuses a second row for one authorization whatever code writes it; the ledger and the evidence (never
    /// purged, possibly large) gain a column, indexed, and lose their nonce and payer indexes.
    static func migrateProofKeys(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE proof_key (
                id INTEGER PRIMARY KEY,
                network TEXT NOT NULL, asset TEXT NOT NULL, payer TEXT NOT NULL, nonce TEXT NOT NULL
            );
            CREATE UNIQUE INDEX proof_key_value ON proof_key (nonce, payer, asset, network);
            INSERT OR IGNORE INTO proof_key (network, asset, payer, nonce) SELECT network, asset, payer, nonce FROM payment ORDER BY id;
            INSERT OR IGNORE INTO proof_key (network, asset, payer, nonce) SELECT network, asset, payer, nonce FROM proof_evidence ORDER BY id;
            INSERT OR IGNORE INTO proof_key (network, asset, payer, nonce) SELECT network, asset, payer, nonce FROM reservation ORDER BY id;
            INSERT OR IGNORE INTO proof_key (network, asset, payer, nonce) SELECT network, asset, payer, nonce FROM settlement_intent ORDER BY id;
            INSERT OR IGNORE INTO proof_key (network, asset, payer, nonce) SELECT network, asset, payer, nonce FROM paid_response ORDER BY id;
            CREATE INDEX proof_key_payer ON proof_key (lower(payer));

            ALTER TABLE payment ADD COLUMN proof_key_id INTEGER;
            UPDATE payment SET proof_key_id = (SELECT k.id FROM proof_key k WHERE k.nonce = payment.nonce AND k.payer = payment.payer
                                                   AND k.asset = payment.asset AND k.network = payment.network);
            DROP INDEX payment_nonce;
            DROP INDEX payment_payer_lower;
            CREATE INDEX payment_proof_key ON payment (proof_key_id);

            ALTER TABLE proof_evidence ADD COLUMN proof_key_id INTEGER;
            UPDATE proof_evidence SET proof_key_id = (SELECT k.id FROM proof_key k WHERE k.nonce = proof_evidence.nonce
                                                          AND k.payer = proof_evidence.payer AND k.asset = proof_evidence.asset
                                                          AND k.network = proof_evidence.network);
            DROP INDEX proof_evidence_nonce;
            DROP INDEX proof_evidence_payer;
            CREATE INDEX proof_evidence_proof_key ON proof_evidence (proof_key_id);

            CREATE TABLE reservation_v15 (
                id INTEGER PRIMARY KEY, proof_key_id INTEGER NOT NULL,
                network TEXT NOT NULL, asset TEXT NOT NULL, payer TEXT NOT NULL, nonce TEXT NOT NULL,
                correlation_id TEXT NOT NULL, client_id TEXT NOT NULL, resource TEXT NOT NULL,
                valid_before INTEGER NOT NULL, state TEXT NOT NULL, updated_at INTEGER NOT NULL
            );
            INSERT INTO reservation_v15 (id, proof_key_id, network, asset, payer, nonce, correlation_id, client_id, resource, valid_before,
                                         state, updated_at)
                SELECT r.id, k.id, r.network, r.asset, r.payer, r.nonce, r.correlation_id, r.client_id, r.resource, r.valid_before,
                       r.state, r.updated_at
                FROM reservation r JOIN proof_key k ON k.nonce = r.nonce AND k.payer = r.payer AND k.asset = r.asset AND k.network = r.network;
            DROP TABLE reservation;
            ALTER TABLE reservation_v15 RENAME TO reservation;
            CREATE UNIQUE INDEX reservation_proof_key ON reservation (proof_key_id);
            CREATE INDEX reservation_valid_before ON reservation (valid_before);
            CREATE UNIQUE INDEX reservation_offer ON reservation (correlation_id);

            CREATE TABLE paid_response_v15 (
                id INTEGER PRIMARY KEY, proof_key_id INTEGER NOT NULL,
                network TEXT NOT NULL, asset TEXT NOT NULL, payer TEXT NOT NULL, nonce TEXT NOT NULL,
                correlation_id TEXT NOT NULL, client_id TEXT NOT NULL, request TEXT NOT NULL,
                status INTEGER NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL, expires_at INTEGER NOT NULL,
                ready INTEGER NOT NULL DEFAULT 1, payment_identifier TEXT
            );
            INSERT INTO paid_response_v15 (id, proof_key_id, network, asset, payer, nonce, correlation_id, client_id, request, status,
                                           headers, body, expires_at, ready, payment_identifier)
                SELECT p.id, k.id, p.network, p.asset, p.payer, p.nonce, p.correlation_id, p.client_id, p.request, p.status, p.headers,
                       p.body, p.expires_at, p.ready, p.payment_identifier
                FROM paid_response p JOIN proof_key k ON k.nonce = p.nonce AND k.payer = p.payer AND k.asset = p.asset AND k.network = p.network;
            DROP TABLE paid_response;
            ALTER TABLE paid_response_v15 RENAME TO paid_response;
            CREATE UNIQUE INDEX paid_response_proof_key ON paid_response (proof_key_id);
            CREATE INDEX paid_response_expiry ON paid_response (expires_at);

            CREATE TABLE settlement_intent_v15 (
                id INTEGER PRIMARY KEY, proof_key_id INTEGER NOT NULL,
                network TEXT NOT NULL, asset TEXT NOT NULL, payer TEXT NOT NULL, nonce TEXT NOT NULL,
                correlation_id TEXT NOT NULL, outcome TEXT NOT NULL DEFAULT 'open',
                delivered INTEGER NOT NULL DEFAULT 0, tx TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
            );
            INSERT INTO settlement_intent_v15 (id, proof_key_id, network, asset, payer, nonce, correlation_id, outcome, delivered, tx,
                                               created_at, updated_at)
                SELECT i.id, k.id, i.network, i.asset, i.payer, i.nonce, i.correlation_id, i.outcome, i.delivered, i.tx, i.created_at,
                       i.updated_at
                FROM settlement_intent i JOIN proof_key k ON k.nonce = i.nonce AND k.payer = i.payer AND k.asset = i.asset AND k.network = i.network;
            DROP TABLE settlement_intent;
            ALTER TABLE settlement_intent_v15 RENAME TO settlement_intent;
            CREATE UNIQUE INDEX settlement_intent_proof_key ON settlement_intent (proof_key_id);
            CREATE INDEX settlement_intent_outcome ON settlement_intent (outcome, delivered, created_at);
            CREATE TRIGGER settlement_intent_body_deleted AFTER DELETE ON settlement_intent
            BEGIN
                DELETE FROM settlement_intent_body WHERE intent_id = old.id;
            END;
            """)
    }
}
