//! The job template `keyrotate generate` prints.
//!
//! Unlike `mc batch generate keyrotate` (JOB.md §2 notes) it has no
//! `type: sse-s3`, no `"date"` placeholders, no `7d`/`7d` age pair and no
//! active `plaintextOnly: true`: with only the bucket filled in it is a valid
//! job that encrypts plaintext versions and rotates encrypted ones.

/// The template text. Only `bucket` must be filled in.
pub const TEMPLATE: &str = r#"# keyrotate job. Check it with: keyrotate validate THIS_FILE
# Only "bucket" must be filled in; everything else is optional.
keyrotate:
  apiVersion: v1
  bucket: ""                 # REQUIRED: the bucket to process, e.g. my-bucket
  prefix: ""                 # only object names starting with this ("" = whole bucket);
                             # a list such as [logs/, img/] is also accepted
  encryption:
    type: sse-kms            # the only type: every processed version ends up SSE-KMS
    # key: my-kms-key        # target KMS key; default: the cluster's default key
    # context: eyJwcm9qZWN0IjoiYWxwaGEifQ==   # base64 of a JSON object of strings,
                             # here {"project":"alpha"}; default: keep each object's
  flags:
    filter:                  # every filter you set must match (AND); none = all versions
      # newerThan: 30d       # age below this; units ns us ms s m h d w, e.g. 5d12h30s
      # olderThan: 7d        # age at least this; if both are set, newerThan > olderThan
      # createdAfter: 2024-01-01            # modified at or after (YYYY-MM-DD or RFC 3339)
      # createdBefore: 2024-12-31T23:59:59Z # modified at or before
      # tags:                # any item may match (OR); values take * and ? wildcards
      #   - key: project
      #     value: "alpha*"
      # metadata:            # user metadata (x-amz-meta-*) or a standard header
      #   - key: content-type
      #     value: "image/*"
      # kmskey: old-key      # only SSE-KMS versions under this key
      plaintextOnly: false       # true: only encrypt plaintext; encrypted versions are skipped
      forceEncryptLocked: false  # true: also rotate ENCRYPTED versions under retention or
                                 # legal hold (locked plaintext is always skipped)
    # notify:                # a webhook called once when the job ends
    #   endpoint: https://hooks.example.com/keyrotate
    #   token: "Bearer <token>"   # sent as the Authorization header
    retry:
      attempts: 3            # tries per version, the first included
      delay: 25ms            # least wait between tries
"#;
