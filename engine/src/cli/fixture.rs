//! `keyrotate fixture`: build a MinIO-format test deployment and its manifest.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{CliError, CmdResult, EXIT_INVALID};
use crate::fixture::{self, FixtureError, FixtureSpec, Mix, SizeClass};

/// Build a MinIO-format test deployment (DIR/drive1 … DIR/driveN + DIR/manifest.json).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output directory (created; must be absent or empty).
    #[arg(long)]
    out: PathBuf,
    /// Drives in the erasure set.
    #[arg(long, default_value_t = 4)]
    drives: usize,
    /// Parity shards per object.
    #[arg(long, default_value_t = 2)]
    parity: usize,
    /// Number of objects (keys).
    #[arg(long, default_value_t = 100)]
    objects: u64,
    /// Encryption mix as weights, e.g. `plain=2,sse-s3=1,sse-kms=1,sse-c=1`.
    #[arg(long, default_value = "plain=1,sse-s3=1,sse-kms=1,sse-c=1")]
    mix: Mix,
    /// Versions per object (above 1 the bucket is versioned, with delete markers).
    #[arg(long, default_value_t = 1)]
    versions: u32,
    /// Make every K-th object a multipart upload.
    #[arg(long, value_name = "K")]
    multipart_every: Option<u64>,
    /// Object size distribution.
    #[arg(long, value_enum, default_value_t = SizeClass::Small)]
    sizes: SizeClass,
    /// Put object-lock retention (and legal hold) on every K-th object.
    #[arg(long, value_name = "K")]
    locked_every: Option<u64>,
    /// Tag every third object.
    #[arg(long)]
    tags: bool,
    /// Seal every K-th object's SSE-KMS versions under a second static key
    /// (a published test key, recorded in the manifest).
    #[arg(long, value_name = "K")]
    second_key_every: Option<u64>,
    /// Seed of all randomness (same seed, same fixture).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Bucket name.
    #[arg(long, default_value = "fixture")]
    bucket: String,
    /// Also write MinIO's internal data: server config and history, IAM
    /// users/groups/policies/mappings/service accounts/STS, tier config and a
    /// bucket with remote targets, encrypted with the fixture's KMS the way
    /// MinIO encrypts them.
    #[arg(long)]
    internal: bool,
    /// With `--internal`: write them as a MinIO without a KMS does (plaintext).
    #[arg(long, requires = "internal")]
    plaintext_internal: bool,
}

pub fn run(args: Args) -> CmdResult {
    let spec = FixtureSpec {
        drives: args.drives,
        parity: args.parity,
        objects: args.objects,
        mix: args.mix,
        versions: args.versions,
        multipart_every: args.multipart_every,
        sizes: args.sizes,
        locked_every: args.locked_every,
        tags: args.tags,
        seed: args.seed,
        bucket: args.bucket,
        kms_key_id: String::new(),
        second_key_every: args.second_key_every,
        compressed_every: None,
    };
    let started = std::time::Instant::now();
    // KMS from MinIO's environment variables; the published default key otherwise.
    let env = kms_client::config::ProcessEnv;
    let from_env = kms_client::config::detect(&env)
        .map_err(|e| CliError::new(EXIT_INVALID, e))?
        .is_some();
    let (kms, internal_kms) = if from_env {
        let kms = kms_client::KmsConfig::from_lookup(&env, None)
            .and_then(|c| c.build())
            .map_err(|e| CliError::new(EXIT_INVALID, e))?;
        (fixture::FixtureKms::Custom(kms.clone()), kms)
    } else {
        // Its own random stream; the same key as the objects.
        let kms = fixture::default_kms(spec.seed.wrapping_add(1))
            .map_err(|e| CliError::new(EXIT_INVALID, e))?;
        (fixture::FixtureKms::Default, kms)
    };
    let manifest = fixture::build(&args.out, &spec, kms).map_err(|e| match e {
        FixtureError::Spec(_) => CliError::new(EXIT_INVALID, e),
        e => CliError::new(1, e),
    })?;
    let mut manifest = manifest;
    if args.internal {
        let kms = (!args.plaintext_internal).then_some(internal_kms.as_ref());
        let entries = fixture::internal::add_internal(&args.out, spec.drives, spec.seed, kms)
            .and_then(|e| fixture::internal::extend_manifest(&args.out, &mut manifest, e))
            .map_err(|e| CliError::new(1, e))?;
        outln!("wrote {entries} internal items");
    }
    outln!(
        "wrote {} versions of {} objects on {} drives to {} in {:.1}s",
        manifest.objects.len(),
        spec.objects,
        spec.drives,
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}
