/// The schema of the PostgreSQL store, in order. PostgreSQL has no earlier deployments, so its first version is the
/// whole schema of the SQLite store at its v9 (SQLiteStore+Migrations.swift); later versions follow it one by one.
public enum PostgresMigrations {
    /// Every migration, oldest first.
    public static let all: [PostgresMigration] = [v1Schema, v2SharedInstances, v3AuditLookupColumns, v4UnusedPayerIndex, v5UnitHoldHeld,
                                                   v6DeliveryToken, v7ClaimLease, v8AuditArchiveKeys, v9RefundRequestKey,
                                                   v10PaymentTransactionAnyCase]

    /// The tables every `GatewayStore` operation reads and writes.
    public static let tables: [String] = [
        "reservation", "payment", "audit_event", "paid_response", "spend_total", "spend_hold", "revocation", "incident",
        "payment_identifier", "proof_evidence", "audit_archive", "audit_archive_key", "dispute", "usage_event", "package_balance",
        "package_grant", "unit_hold", "refund", "settlement_intent", "audit_sequence",
        "invalid_proof_count",
    ]

    static let v1Schema = PostgresMigration(version: "1-schema", statements: [
        """
        CREATE TABLE reservation (
            network TEXT NOT NULL, asset TEXT NOT NULL, payer TEXT NOT NULL, nonce TEXT NOT NULL,
            correlation_id TEXT NOT NULL, client_id TEXT NOT NULL, resource TEXT NOT NULL,
            valid_before BIGINT NOT NULL, state TEXT NOT NULL, updated_at BIGINT NOT NULL,
            PRIMARY KEY (network, asset, payer, nonce)
        )
        """,
        "CREATE INDEX reservation_valid_before ON reservation (valid_before)",
        "CREATE UNIQUE INDEX reservation_offer ON reservation (correlation_id)",
        """
        CREATE TABLE payment (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            correlation_id TEXT NOT NULL, rail TEXT NOT NULL, network TEXT NOT NULL, asset TEXT NOT NULL,
            payer TEXT NOT NULL, payee TEXT NOT NULL, amount TEXT NOT NULL, nonce TEXT NOT NULL, tx TEXT NOT NULL,
            client_id TEXT NOT NULL, resource TEXT NOT NULL, unit TEXT NOT NULL, quantity BIGINT NOT NULL,
            settled_at BIGINT NOT NULL, body_sha256 TEXT NOT NULL DEFAULT ''
        )
        """,
        "CREATE INDEX payment_correlation ON payment (correlation_id)",
        "CREATE INDEX payment_payer ON payment (payer)",
        "CREATE INDEX payment_tx ON payment (tx)",
        "CREATE INDEX payment_client ON payment (client_id)",
        "CREATE INDEX payment_payer_lower ON payment (lower(payer))",
        "CREATE INDEX payment_nonce ON payment (nonce)",
        """
        CREATE TABLE audit_event (
            seq BIGINT PRIMARY KEY NOT NULL,
            correlation_id TEXT NOT NULL, time_ms BIGINT NOT NULL, stage TEXT NOT NULL, outcome TEXT NOT NULL,
            reason TEXT, client_id TEXT, resource TEXT, details TEXT NOT NULL,
            prev_hash TEXT NOT NULL, hash TEXT NOT NULL
        )
        """,
        "CREATE INDEX audit_event_correlation ON audit_event (correlation_id, seq)",
        "CREATE INDEX audit_event_stage ON audit_event (stage, seq)",
        // The highest seq ever assigned (SQLite's `sqlite_sequence`): a deleted tail is never reused, so a verifier
        // tells a truncated log from a short one. One row, written by every append under the write lock.
        "CREATE TABLE audit_sequence (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL)",
        "INSERT INTO audit_sequence (id, seq) VALUES (1, 0)",
        "CREATE INDEX audit_event_payer ON audit_event (lower((details::jsonb) ->> 'payer'))",
        "CREATE INDEX audit_event_nonce ON audit_event (lower((details::jsonb) ->> 'nonce'))",
        "CREATE INDEX audit_event_transaction ON audit_event (lower((details::jsonb) ->> 'transaction'))",
        """
        CREATE TABLE paid_response (
            network TEXT NOT NULL, asset TEXT NOT NULL, payer TEXT NOT NULL, nonce TEXT NOT NULL,
            correlation_id TEXT NOT NULL, client_id TEXT NOT NULL, request TEXT NOT NULL,
            status INTEGER NOT NULL, headers TEXT NOT NULL, body BYTEA NOT NULL, expires_at BIGINT NOT NULL,
            ready BOOLEAN NOT NULL DEFAULT TRUE, payment_identifier TEXT,
            PRIMARY KEY (network, asset, payer, nonce)
        )
        """,
        "CREATE INDEX paid_response_expiry ON paid_response (expires_at)",
        """
        CREATE TABLE spend_total (subject TEXT NOT NULL, bucket TEXT NOT NULL, total TEXT NOT NULL,
                                  PRIMARY KEY (subject, bucket))
        """,
        """
        CREATE TABLE spend_hold (correlation_id TEXT NOT NULL, subject TEXT NOT NULL, bucket TEXT NOT NULL, amount TEXT NOT NULL,
                                 state TEXT NOT NULL, PRIMARY KEY (correlation_id, subject, bucket))
        """,
        """
        CREATE TABLE revocation (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('client', 'payer')), subject TEXT NOT NULL,
            reason TEXT NOT NULL, actor TEXT NOT NULL, at BIGINT NOT NULL,
            lifted_by TEXT, lifted_at BIGINT
        )
        """,
        "CREATE UNIQUE INDEX revocation_in_force ON revocation (kind, subject) WHERE lifted_at IS NULL",
        """
        CREATE TABLE incident (
            id TEXT PRIMARY KEY NOT NULL,
            scope TEXT NOT NULL, reason TEXT NOT NULL, actor TEXT NOT NULL, at BIGINT NOT NULL,
            ended_by TEXT, ended_at BIGINT
        )
        """,
        "CREATE UNIQUE INDEX incident_in_force ON incident (scope) WHERE ended_at IS NULL",
        """
        CREATE TABLE payment_identifier (client_id TEXT NOT NULL, identifier TEXT NOT NULL, fingerprint TEXT NOT NULL,
                                         correlation_id TEXT NOT NULL, created_at BIGINT NOT NULL,
                                         PRIMARY KEY (client_id, identifier))
        """,
        """
        CREATE TABLE proof_evidence (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            correlation_id TEXT NOT NULL, network TEXT NOT NULL, asset TEXT NOT NULL, payer TEXT NOT NULL, nonce TEXT NOT NULL,
            offer_token TEXT NOT NULL, payload TEXT NOT NULL, received_at BIGINT NOT NULL
        )
        """,
        "CREATE INDEX proof_evidence_correlation ON proof_evidence (correlation_id)",
        "CREATE INDEX proof_evidence_nonce ON proof_evidence (nonce)",
        "CREATE INDEX proof_evidence_payer ON proof_evidence (payer)",
        """
        CREATE TABLE audit_archive (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            first_seq BIGINT NOT NULL, last_seq BIGINT NOT NULL, prev_hash TEXT NOT NULL, last_hash TEXT NOT NULL,
            event_count BIGINT NOT NULL, file TEXT NOT NULL, file_sha256 TEXT NOT NULL, archived_at BIGINT NOT NULL,
            CHECK (last_seq >= first_seq)
        )
        """,
        "CREATE UNIQUE INDEX audit_archive_first ON audit_archive (first_seq)",
        """
        CREATE TABLE dispute (
            id TEXT PRIMARY KEY NOT NULL, correlation_id TEXT NOT NULL, reason TEXT NOT NULL, actor TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('open', 'closed')), opened_at BIGINT NOT NULL,
            closed_at BIGINT, closed_by TEXT, resolution TEXT
        )
        """,
        "CREATE UNIQUE INDEX dispute_open ON dispute (correlation_id) WHERE state = 'open'",
        "CREATE INDEX dispute_correlation ON dispute (correlation_id, opened_at)",
        "CREATE INDEX dispute_state ON dispute (state, opened_at)",
        """
        CREATE TABLE usage_event (
            correlation_id TEXT PRIMARY KEY NOT NULL, client_id TEXT NOT NULL, payer TEXT NOT NULL, resource TEXT NOT NULL,
            unit TEXT NOT NULL, quantity BIGINT NOT NULL, paid_quantity BIGINT NOT NULL, source TEXT NOT NULL,
            amount TEXT NOT NULL, asset TEXT NOT NULL, at_ms BIGINT NOT NULL
        )
        """,
        "CREATE INDEX usage_event_client ON usage_event (client_id, at_ms)",
        "CREATE INDEX usage_event_time ON usage_event (at_ms)",
        """
        CREATE TABLE package_balance (
            client_id TEXT NOT NULL, package TEXT NOT NULL, unit TEXT NOT NULL, balance BIGINT NOT NULL CHECK (balance >= 0),
            updated_at BIGINT NOT NULL, PRIMARY KEY (client_id, package)
        )
        """,
        """
        CREATE TABLE package_grant (
            correlation_id TEXT PRIMARY KEY NOT NULL, client_id TEXT NOT NULL, package TEXT NOT NULL, unit TEXT NOT NULL,
            units BIGINT NOT NULL, at_ms BIGINT NOT NULL
        )
        """,
        """
        CREATE TABLE unit_hold (
            correlation_id TEXT PRIMARY KEY NOT NULL, client_id TEXT NOT NULL, package TEXT NOT NULL, units BIGINT NOT NULL,
            state TEXT NOT NULL, at_ms BIGINT NOT NULL
        )
        """,
        """
        CREATE TABLE refund (
            id TEXT PRIMARY KEY NOT NULL, correlation_id TEXT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL,
            client_id TEXT NOT NULL, payer TEXT NOT NULL, resource TEXT NOT NULL, amount TEXT NOT NULL, asset TEXT NOT NULL,
            network TEXT NOT NULL, unit TEXT NOT NULL, reason TEXT NOT NULL, actor TEXT NOT NULL, automatic BOOLEAN NOT NULL,
            created_at BIGINT NOT NULL, closed_at BIGINT, payout_tx TEXT
        )
        """,
        "CREATE INDEX refund_flow ON refund (correlation_id)",
        "CREATE INDEX refund_state ON refund (state, created_at)",
        """
        CREATE TABLE settlement_intent (
            network TEXT NOT NULL, asset TEXT NOT NULL, payer TEXT NOT NULL, nonce TEXT NOT NULL,
            correlation_id TEXT NOT NULL, intent TEXT NOT NULL, outcome TEXT NOT NULL DEFAULT 'open',
            delivered BOOLEAN NOT NULL DEFAULT FALSE, tx TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
            PRIMARY KEY (network, asset, payer, nonce)
        )
        """,
        "CREATE INDEX settlement_intent_outcome ON settlement_intent (outcome, delivered, created_at)",
    ])

    /// What several instances need: which instance holds a claim (a copy at another instance then waits instead of
    /// taking it over), and the invalid-proof budget they share (`limits.shared_invalid`), one row per key and window.
    static let v2SharedInstances = PostgresMigration(version: "2-shared-instances", statements: [
        "ALTER TABLE reservation ADD COLUMN owner TEXT NOT NULL DEFAULT ''",
        """
        CREATE TABLE invalid_proof_count (key TEXT NOT NULL, window_start BIGINT NOT NULL, count BIGINT NOT NULL,
                                          PRIMARY KEY (key, window_start))
        """,
        "CREATE INDEX invalid_proof_count_window ON invalid_proof_count (window_start)",
    ])

    /// The payer, nonce and transaction of an audit event in columns the gateway fills (`AuditEvent.lookupKeys`),
    /// indexed only where set: the expression indexes cast every event's details to jsonb three times on insert and
    /// added three index entries per event, though few events name any of them. Events an instance of an earlier
    /// version writes after this migration are found by correlation id only, so a cluster is upgraded as a whole.
    static let v3AuditLookupColumns = PostgresMigration(version: "3-audit-lookup-columns", statements: [
        "ALTER TABLE audit_event ADD COLUMN payer TEXT, ADD COLUMN nonce TEXT, ADD COLUMN tx TEXT",
        """
        UPDATE audit_event SET payer = lower((details::jsonb) ->> 'payer'), nonce = lower((details::jsonb) ->> 'nonce'),
                               tx = lower((details::jsonb) ->> 'transaction')
            WHERE (details::jsonb) ?| ARRAY['payer', 'nonce', 'transaction']
        """,
        "DROP INDEX audit_event_payer",
        "DROP INDEX audit_event_nonce",
        "DROP INDEX audit_event_transaction",
        "CREATE INDEX audit_event_payer ON audit_event (payer) WHERE payer IS NOT NULL",
        "CREATE INDEX audit_event_nonce ON audit_event (nonce) WHERE nonce IS NOT NULL",
        "CREATE INDEX audit_event_transaction ON audit_event (tx) WHERE tx IS NOT NULL",
    ])

    /// Every lookup of a payment by payer folds case (`payment_payer_lower`) and the ledger's once-per-authorization
    /// check uses `payment_nonce`: the plain payer index only cost an entry per settled payment, under the write lock.
    static let v4UnusedPayerIndex = PostgresMigration(version: "4-unused-payer-index", statements: [
        "DROP INDEX IF EXISTS payment_payer",
    ])

    /// The janitor looks for holds still `held` long after they were taken (`lapseUnitHolds`); finished ones leave the index.
    /// Built in the migration's transaction, it reads `unit_hold` once and holds that table's writes meanwhile: on a
    /// cluster with years of prepaid requests, upgrade in a quiet hour (docs/configuration.md, `storage.postgres`).
    static let v5UnitHoldHeld = PostgresMigration(version: "5-unit-hold-held", statements: [
        "CREATE INDEX unit_hold_held ON unit_hold (at_ms) WHERE state = 'held'",
    ])

    /// The token of a flow's one delivery since it was last undelivered (`SettledDelivery`; none once it was delivered
    /// more than once): a delivery that did not reach its client reopens the flow only while its token is there. A
    /// nullable column without a default: no table rewrite.
    static let v6DeliveryToken = PostgresMigration(version: "6-delivery-token", statements: [
        "ALTER TABLE settlement_intent ADD COLUMN delivery BIGINT",
    ])

    /// When a claim's owner last showed it was working on it, on the database's clock (`PostgresStore.databaseMillis`):
    /// every instance compares against the same clock, so a skewed instance clock neither takes over a live claim nor
    /// keeps a dead one. The default stamps the rows there are now (they stay live for one grace period after the
    /// upgrade, as a claim just written would) and the claims an instance of an earlier version writes, except those
    /// nobody works on (`owner` cleared by a reopened delivery). A volatile default rewrites the table once, in the
    /// migration's transaction.
    static let v7ClaimLease = PostgresMigration(version: "7-claim-lease", statements: [
        "ALTER TABLE reservation ADD COLUMN lease_at BIGINT NOT NULL DEFAULT \(PostgresStore.databaseMillis)",
        "UPDATE reservation SET lease_at = 0 WHERE owner = ''",
    ])

    /// Each archived range's index: the lookup keys its file names (`AuditArchiveSearch.lookupKeys`), so support reads
    /// only the files that hold a flow. Ranges archived before it are marked unindexed (read for every lookup).
    static let v8AuditArchiveKeys = PostgresMigration(version: "8-audit-archive-keys", statements: [
        "ALTER TABLE audit_archive ADD COLUMN indexed BOOLEAN NOT NULL DEFAULT false",
        "CREATE TABLE audit_archive_key (key TEXT NOT NULL, first_seq BIGINT NOT NULL, PRIMARY KEY (key, first_seq))",
    ])

    /// The caller's idempotency key of a refund: the same refund sent again with it is recorded once.
    static let v9RefundRequestKey = PostgresMigration(version: "9-refund-request-key", statements: [
        "ALTER TABLE refund ADD COLUMN request_key TEXT",
        "CREATE UNIQUE INDEX refund_request_key ON refund (request_key) WHERE request_key IS NOT NULL",
    ])

    /// The ledger keeps a transaction as the facilitator spelt it; every lookup by transaction (a trace, a refund's payout
    /// check) folds case, so the index does too (in place of the plain one: no extra work per settled payment).
    static let v10PaymentTransactionAnyCase = PostgresMigration(version: "10-payment-transaction-any-case", statements: [
        "DROP INDEX IF EXISTS payment_tx",
        "CREATE INDEX payment_tx_lower ON payment (lower(tx))",
    ])
}
