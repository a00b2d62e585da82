import GRDB

extension SQLiteStore {
    /// Schema changes, in order. Amounts are decimal TEXT (uint256 never fits a REAL).
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE reservation (
                    network TEXT NOT NULL, asset TEXT NOT NULL, payer TEXT NOT NULL, nonce TEXT NOT NULL,
                    correlation_id TEXT NOT NULL, client_id TEXT NOT NULL, resource TEXT NOT NULL,
                    valid_before INTEGER NOT NULL, state TEXT NOT NULL, updated_at INTEGER NOT NULL,
                    PRIMARY KEY (network, asset, payer, nonce)
                ) WITHOUT ROWID;
                CREATE INDEX reservation_valid_before ON reservation (valid_before);
                CREATE UNIQUE INDEX reservation_offer ON reservation (correlation_id);
                CREATE TABLE payment (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    correlation_id TEXT NOT NULL, rail TEXT NOT NULL, network TEXT NOT NULL, asset TEXT NOT NULL,
                    payer TEXT NOT NULL, payee TEXT NOT NULL, amount TEXT NOT NULL, nonce TEXT NOT NULL, tx TEXT NOT NULL,
                    client_id TEXT NOT NULL, resource TEXT NOT NULL, unit TEXT NOT NULL, quantity INTEGER NOT NULL,
                    settled_at INTEGER NOT NULL
                );
                CREATE INDEX payment_correlation ON payment (correlation_id);
                CREATE INDEX payment_payer ON payment (payer);
                CREATE INDEX payment_tx ON payment (tx);
                CREATE TABLE audit_event (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    correlation_id TEXT NOT NULL, time_ms INTEGER NOT NULL, stage TEXT NOT NULL, outcome TEXT NOT NULL,
                    reason TEXT, client_id TEXT, resource TEXT, details TEXT NOT NULL,
                    prev_hash TEXT NOT NULL, hash TEXT NOT NULL
                );
                CREATE INDEX audit_event_correlation ON audit_event (correlation_id, seq);
                """)
        }
        migrator.registerMigration("v2-paid-responses") { db in
            try db.execute(sql: """
                CREATE TABLE paid_response (
                    network TEXT NOT NULL, asset TEXT NOT NULL, payer TEXT NOT NULL, nonce TEXT NOT NULL,
                    correlation_id TEXT NOT NULL, client_id TEXT NOT NULL, request TEXT NOT NULL,
                    status INTEGER NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL, expires_at INTEGER NOT NULL,
                    PRIMARY KEY (network, asset, payer, nonce)
                ) WITHOUT ROWID;
                CREATE INDEX paid_response_expiry ON paid_response (expires_at);
                """)
        }
        migrator.registerMigration("v3-spend") { db in
            try db.execute(sql: """
                CREATE TABLE spend_total (subject TEXT NOT NULL, bucket TEXT NOT NULL, total TEXT NOT NULL,
                                          PRIMARY KEY (subject, bucket)) WITHOUT ROWID;
                CREATE TABLE spend_hold (correlation_id TEXT NOT NULL, subject TEXT NOT NULL, bucket TEXT NOT NULL, amount TEXT NOT NULL,
                                         state TEXT NOT NULL, PRIMARY KEY (correlation_id, subject, bucket)) WITHOUT ROWID;
                """)
        }
        // Operator controls. Lifting a revocation or ending an incident marks the row, never deletes it;
        // the partial unique indexes allow one revocation per subject and one incident per scope in force.
        migrator.registerMigration("v4-controls") { db in
            try db.execute(sql: """
                CREATE TABLE revocation (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    kind TEXT NOT NULL CHECK (kind IN ('client', 'payer')), subject TEXT NOT NULL,
                    reason TEXT NOT NULL, actor TEXT NOT NULL, at INTEGER NOT NULL,
                    lifted_by TEXT, lifted_at INTEGER
                );
                CREATE UNIQUE INDEX revocation_in_force ON revocation (kind, subject) WHERE lifted_at IS NULL;
                CREATE TABLE incident (
                    id TEXT PRIMARY KEY NOT NULL,
                    scope TEXT NOT NULL, reason TEXT NOT NULL, actor TEXT NOT NULL, at INTEGER NOT NULL,
                    ended_by TEXT, ended_at INTEGER
                );
                CREATE UNIQUE INDEX incident_in_force ON incident (scope) WHERE ended_at IS NULL;
                CREATE INDEX payment_client ON payment (client_id);
                CREATE INDEX payment_payer_lower ON payment (lower(payer));
                """)
        }
        migrator.registerMigration("v5-payment-identifier") { db in
            try db.execute(sql: """
                CREATE TABLE payment_identifier (client_id TEXT NOT NULL, identifier TEXT NOT NULL, fingerprint TEXT NOT NULL,
                                                 correlation_id TEXT NOT NULL, created_at INTEGER NOT NULL,
                                                 PRIMARY KEY (client_id, identifier)) WITHOUT ROWID;
                """)
        }
        // Each later migration lives beside the code that reads its tables.
        migrator.registerMigration("v6-evidence", migrate: migrateEvidence)
        migrator.registerMigration("v6-audit-archive", migrate: migrateAuditArchive)
        migrator.registerMigration("v7-support", migrate: migrateSupport)
        migrator.registerMigration("v8-metering", migrate: migrateMetering)
        // Settlements are recorded before `/settle` is sent. A prepared answer waits in paid_response
        // (ready = 0) until its payment is known to have settled.
        migrator.registerMigration("v9-settlement-intent") { db in
            try db.execute(sql: """
                CREATE TABLE settlement_intent (
                    network TEXT NOT NULL, asset TEXT NOT NULL, payer TEXT NOT NULL, nonce TEXT NOT NULL,
                    correlation_id TEXT NOT NULL, intent TEXT NOT NULL, outcome TEXT NOT NULL DEFAULT 'open',
                    delivered INTEGER NOT NULL DEFAULT 0, tx TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
                    PRIMARY KEY (network, asset, payer, nonce)
                ) WITHOUT ROWID;
                CREATE INDEX settlement_intent_outcome ON settlement_intent (outcome, delivered, created_at);
                ALTER TABLE paid_response ADD COLUMN ready INTEGER NOT NULL DEFAULT 1;
                ALTER TABLE paid_response ADD COLUMN payment_identifier TEXT;
                """)
        }
        migrator.registerMigration("v10-append-order", migrate: migrateToAppendOrder)
        migrator.registerMigration("v11-audit-lookup-columns", migrate: migrateAuditLookupColumns)
        // Every lookup of a payment by payer folds case (`payment_payer_lower`); the ledger's once-per-authorization
        // check uses `payment_nonce`. The plain payer index only cost a random-key entry per settled payment.
        migrator.registerMigration("v12-unused-payer-index") { db in
            try db.execute(sql: "DROP INDEX IF EXISTS payment_payer")
        }
        migrator.registerMigration("v13-reservation-append-order", migrate: migrateReservationToAppendOrder)
        migrator.registerMigration("v14-settlement-intent-body", migrate: migrateSettlementIntentBody)
        migrator.registerMigration("v15-proof-keys", migrate: migrateProofKeys)
        migrator.registerMigration("v16-released-answer-headers", migrate: migrateReleasedAnswerHeaders)
        // The janitor looks for holds still `held` long after they were taken (`lapseUnitHolds`); finished ones leave the index.
        migrator.registerMigration("v17-unit-hold-held") { db in
            try db.execute(sql: "CREATE INDEX unit_hold_held ON unit_hold (at_ms) WHERE state = 'held'")
        }
        // The token of a flow's one delivery since it was last undelivered (`SettledDelivery`; none once it was delivered
        // more than once): a delivery that did not reach its client reopens the flow only while its token is there.
        migrator.registerMigration("v18-delivery-token") { db in
            try db.execute(sql: "ALTER TABLE settlement_intent ADD COLUMN delivery INTEGER")
        }
        migrator.registerMigration("v19-audit-archive-keys", migrate: migrateAuditArchiveKeys)
        // The caller's idempotency key of a refund: the same refund sent again with it is recorded once.
        migrator.registerMigration("v20-refund-request-key") { db in
            try db.execute(sql: """
                ALTER TABLE refund ADD COLUMN request_key TEXT;
                CREATE UNIQUE INDEX refund_request_key ON refund (request_key) WHERE request_key IS NOT NULL;
                """)
        }
        // The ledger keeps a transaction as the facilitator spelt it; every lookup by transaction (a trace, a refund's payout
        // check) folds case, so the index does too (in place of the plain one: no extra work per settled payment).
        migrator.registerMigration("v21-payment-transaction-any-case") { db in
            try db.execute(sql: """
                DROP INDEX IF EXISTS payment_tx;
                CREATE INDEX payment_tx_lower ON payment (lower(tx));
                """)
        }
        return migrator
    }

    /// The two tables with large rows (a kept answer, a settlement intent with its facilitator request) become rowid
    /// tables with their key in a unique index. Keyed by a random nonce, they inserted each row at a random page and
    /// spilled it to an overflow page (a keyed table keeps only about 1 KB of a row in place); in rowid order new rows
    /// share the last pages, and a commit of many payments writes a few pages instead of two or three per payment.
    static func migrateToAppendOrder(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE paid_response_v10 (
                id INTEGER PRIMARY KEY,
                network TEXT NOT NULL, asset TEXT NOT NULL, payer TEXT NOT NULL, nonce TEXT NOT NULL,
                correlation_id TEXT NOT NULL, client_id TEXT NOT NULL, request TEXT NOT NULL,
                status INTEGER NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL, expires_at INTEGER NOT NULL,
                ready INTEGER NOT NULL DEFAULT 1, payment_identifier TEXT
            );
            INSERT INTO paid_response_v10 (network, asset, payer, nonce, correlation_id, client_id, request, status, headers, body,
                                           expires_at, ready, payment_identifier)
                SELECT network, asset, payer, nonce, correlation_id, client_id, request, status, headers, body, expires_at, ready,
                       payment_identifier FROM paid_response;
            DROP TABLE paid_response;
            ALTER TABLE paid_response_v10 RENAME TO paid_response;
            CREATE UNIQUE INDEX paid_response_key ON paid_response (network, asset, payer, nonce);
            CREATE INDEX paid_response_expiry ON paid_response (expires_at);

            CREATE TABLE settlement_intent_v10 (
                id INTEGER PRIMARY KEY,
                network TEXT NOT NULL, asset TEXT NOT NULL, payer TEXT NOT NULL, nonce TEXT NOT NULL,
                correlation_id TEXT NOT NULL, intent TEXT NOT NULL, outcome TEXT NOT NULL DEFAULT 'open',
                delivered INTEGER NOT NULL DEFAULT 0, tx TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
            );
            INSERT INTO settlement_intent_v10 (network, asset, payer, nonce, correlation_id, intent, outcome, delivered, tx, created_at,
                                               updated_at)
                SELECT network, asset, payer, nonce, correlation_id, intent, outcome, delivered, tx, created_at, updated_at
                FROM settlement_intent;
            DROP TABLE settlement_intent;
            ALTER TABLE settlement_intent_v10 RENAME TO settlement_intent;
            CREATE UNIQUE INDEX settlement_intent_key ON settlement_intent (network, asset, payer, nonce);
            CREATE INDEX settlement_intent_outcome ON settlement_intent (outcome, delivered, created_at);
            """)
    }

    /// Claims, like the two tables of `migrateToAppendOrder`, become a rowid table with their key in a unique index. Keyed
    /// by a random authorization, a claim landed on a random page, and a paid request rewrote that page at each of its
    /// three commits (claim, settlement intent, result) and split it often: about four WAL pages per paid request. In
    /// rowid order the claims of concurrent requests share the table's last pages, and the key index takes one small
    /// entry per claim that no state change touches.
    static func migrateReservationToAppendOrder(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE reservation_v13 (
                id INTEGER PRIMARY KEY,
                network TEXT NOT NULL, asset TEXT NOT NULL, payer TEXT NOT NULL, nonce TEXT NOT NULL,
                correlation_id TEXT NOT NULL, client_id TEXT NOT NULL, resource TEXT NOT NULL,
                valid_before INTEGER NOT NULL, state TEXT NOT NULL, updated_at INTEGER NOT NULL
            );
            INSERT INTO reservation_v13 (network, asset, payer, nonce, correlation_id, client_id, resource, valid_before, state, updated_at)
                SELECT network, asset, payer, nonce, correlation_id, client_id, resource, valid_before, state, updated_at
                FROM reservation ORDER BY updated_at;
            DROP TABLE reservation;
            ALTER TABLE reservation_v13 RENAME TO reservation;
            CREATE UNIQUE INDEX reservation_key ON reservation (network, asset, payer, nonce);
            CREATE INDEX reservation_valid_before ON reservation (valid_before);
            CREATE UNIQUE INDEX reservation_offer ON reservation (correlation_id);
            """)
    }

    /// A settlement intent's document (about 4 KiB: the `/settle` request it will send) moves to a table of its own, written
    /// once. In the intent's row it spilled to an overflow page, and the update that records the outcome (status, delivery,
    /// transaction: a few bytes) rewrote the whole record, overflow page included, in every settled payment's commit. The
    /// narrow row that remains shares its page with its neighbours'; a trigger deletes a document with its intent, whichever
    /// statement deletes it. The table is rebuilt rather than altered (`DROP COLUMN` needs SQLite 3.35; Ubuntu 20.04 has
    /// 3.31), ids kept.
    static func migrateSettlementIntentBody(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE settlement_intent_body (intent_id INTEGER PRIMARY KEY, intent TEXT NOT NULL);
            INSERT INTO settlement_intent_body (intent_id, intent) SELECT id, intent FROM settlement_intent;
            CREATE TABLE settlement_intent_v14 (
                id INTEGER PRIMARY KEY,
                network TEXT NOT NULL, asset TEXT NOT NULL, payer TEXT NOT NULL, nonce TEXT NOT NULL,
                correlation_id TEXT NOT NULL, outcome TEXT NOT NULL DEFAULT 'open',
                delivered INTEGER NOT NULL DEFAULT 0, tx TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
            );
            INSERT INTO settlement_intent_v14 (id, network, asset, payer, nonce, correlation_id, outcome, delivered, tx, created_at, updated_at)
                SELECT id, network, asset, payer, nonce, correlation_id, outcome, delivered, tx, created_at, updated_at FROM settlement_intent;
            DROP TABLE settlement_intent;
            ALTER TABLE settlement_intent_v14 RENAME TO settlement_intent;
            CREATE UNIQUE INDEX settlement_intent_key ON settlement_intent (network, asset, payer, nonce);
            CREATE INDEX settlement_intent_outcome ON settlement_intent (outcome, delivered, created_at);
            CREATE TRIGGER settlement_intent_body_deleted AFTER DELETE ON settlement_intent
            BEGIN
                DELETE FROM settlement_intent_body WHERE intent_id = old.id;
            END;
            """)
    }

    /// What a dispute needs long after the reservation is gone: the signed offer and the proof as
    /// received, per flow (one row per proof presented for it), and the digest of what was delivered.
    static func migrateEvidence(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE proof_evidence (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                correlation_id TEXT NOT NULL, network TEXT NOT NULL, asset TEXT NOT NULL, payer TEXT NOT NULL, nonce TEXT NOT NULL,
                offer_token TEXT NOT NULL, payload TEXT NOT NULL, received_at INTEGER NOT NULL
            );
            CREATE INDEX proof_evidence_correlation ON proof_evidence (correlation_id);
            CREATE INDEX proof_evidence_nonce ON proof_evidence (nonce);
            ALTER TABLE payment ADD COLUMN body_sha256 TEXT NOT NULL DEFAULT '';
            CREATE INDEX payment_nonce ON payment (nonce);
            """)
    }
}
