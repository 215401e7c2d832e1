//! A checkpoint resumes to the same state: a run interrupted after its first epoch, written to
//! bytes, read back and resumed in a fresh session, takes exactly the steps of the run that was
//! never interrupted (bit for bit on `flex`: the batch order, the augmentation draws and Adam's
//! moments are all in the checkpoint).

use std::path::Path;

use super::checkpoint::Checkpoint;
use super::config::{Schedule, TrainConfig};
use super::preprocess::{InputSpec, Normalization};
use super::session::Session;
use super::trainer::Event;
use crate::augment::AugmentSpec;
use crate::backend::cpu_device;
use crate::data::disk::load_dataset;
use crate::data::{DataView, Dataset, SplitConfig};
use crate::protocol::{ModelChoice, OutputsChoice, TrainRequest};

const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/www/demo/nih800");
const SIDE: u32 = 32;

fn view() -> DataView {
    DataView {
        // 30 % to train (about 8 batches of 32), 10 % to validate: a few seconds an epoch.
        split: SplitConfig {
            seed: 5,
            train: 0.3,
            validation: 0.1,
            test: 0.6,
        },
        ..DataView::default()
    }
}

fn request() -> TrainRequest {
    TrainRequest {
        config: TrainConfig {
            input: InputSpec {
                side: SIDE,
                channels: 1,
                normalization: Normalization::Samplewise,
            },
            batch_size: 32,
            epochs: 3,
            weight_decay: 1e-4,
            schedule: Schedule::ReduceOnPlateau {
                factor: 0.5,
                patience: 1,
            },
            early_stopping: None,
            seed: 11,
            loss_every: 3,
            ..TrainConfig::default()
        },
        model: ModelChoice::Small,
        outputs: OutputsChoice::Findings,
        // Random draws per image: the generator must be in the checkpoint.
        augmentation: AugmentSpec::complex(),
        weights: None,
    }
}

/// Steps `session` until an epoch ends (returning the events, the epoch's last) or the run does.
fn run_until_epoch(session: &mut Session, dataset: &Dataset) -> Vec<Event> {
    let mut events = Vec::new();
    loop {
        let event = pollster::block_on(session.step(dataset)).expect("trains");
        let stop = matches!(event, Event::Epoch(_) | Event::Finished(_));
        events.push(event);
        if stop {
            return events;
        }
    }
}

fn run_to_end(session: &mut Session, dataset: &Dataset) -> Vec<Event> {
    let mut events = Vec::new();
    while !matches!(events.last(), Some(Event::Finished(_))) {
        events.extend(run_until_epoch(session, dataset));
    }
    events
}

#[test]
fn a_checkpoint_resumes_to_the_same_state() {
    let dataset = load_dataset(Path::new(DEMO), None, SIDE, |_, _| {}).expect("demo set");
    let device = cpu_device().autodiff();

    let (mut whole, _) = Session::start(&dataset, &view(), request(), &device).expect("starts");
    let uninterrupted = run_to_end(&mut whole, &dataset);

    let (mut first, _) = Session::start(&dataset, &view(), request(), &device).expect("starts");
    let mut interrupted = run_until_epoch(&mut first, &dataset);
    let started = std::time::Instant::now();
    let checkpoint = pollster::block_on(first.checkpoint()).expect("checkpoint");
    let bytes = checkpoint.to_bytes().expect("encodes");
    eprintln!(
        "checkpoint of the small DenseNet at {SIDE}²: {} bytes in {:?}",
        bytes.len(),
        started.elapsed()
    );
    drop(first);
    let back = Checkpoint::from_bytes(&bytes).expect("decodes");
    assert_eq!(back, checkpoint);
    assert_eq!(back.summary.epochs_done, 1);

    let (mut resumed, started) = Session::resume(&dataset, &back, &device).expect("resumes");
    assert_eq!(started.epochs, 3);
    interrupted.extend(run_to_end(&mut resumed, &dataset));

    assert_eq!(interrupted, uninterrupted);
    assert_eq!(resumed.history(), whole.history());
    assert_eq!(resumed.best_epoch(), whole.best_epoch());
    let a = pollster::block_on(resumed.model_file()).expect("model file");
    let b = pollster::block_on(whole.model_file()).expect("model file");
    assert!(a == b, "the kept models differ");
}

#[test]
fn a_checkpoint_refuses_other_data() {
    let dataset = load_dataset(Path::new(DEMO), None, SIDE, |_, _| {}).expect("demo set");
    let device = cpu_device().autodiff();
    let (session, _) = Session::start(&dataset, &view(), request(), &device).expect("starts");
    let checkpoint = pollster::block_on(session.checkpoint()).expect("checkpoint");
    let mut other = checkpoint.clone();
    other.summary.fingerprint ^= 1;
    let Err(why) = Session::resume(&dataset, &other, &device) else {
        panic!("resumed on other data");
    };
    assert!(why.contains("load the same data"), "{why}");
    assert!(Session::resume(&dataset, &checkpoint, &device).is_ok());
    assert!(Checkpoint::from_bytes(b"not a checkpoint").is_err());
}

/// How big and how slow a DenseNet121 checkpoint is (weights and Adam's two moments: about
/// three times the model file). `cargo test --release --lib densenet121_checkpoint -- --ignored
/// --nocapture`.
#[test]
#[ignore = "a measurement: DenseNet121 on the CPU"]
fn densenet121_checkpoint_size_and_time() {
    let dataset = load_dataset(Path::new(DEMO), None, SIDE, |_, _| {}).expect("demo set");
    let device = cpu_device().autodiff();
    let mut request = request();
    request.model = ModelChoice::DenseNet121;
    request.config.batch_size = 16;
    let view = DataView {
        split: SplitConfig {
            seed: 5,
            train: 0.02,
            validation: 0.02,
            test: 0.96,
        },
        ..DataView::default()
    };
    let (mut session, _) = Session::start(&dataset, &view, request, &device).expect("starts");
    run_until_epoch(&mut session, &dataset);
    let started = std::time::Instant::now();
    let checkpoint = pollster::block_on(session.checkpoint()).expect("checkpoint");
    let taken = started.elapsed();
    let bytes = checkpoint.to_bytes().expect("encodes");
    eprintln!(
        "DenseNet121 checkpoint: {} bytes (model file {} bytes, best kept apart: {}), taken in \
         {taken:?}, encoded in {:?}",
        bytes.len(),
        checkpoint.model.len(),
        checkpoint.best_model.is_some(),
        started.elapsed() - taken
    );
    let started = std::time::Instant::now();
    let back = Checkpoint::from_bytes(&bytes).expect("decodes");
    Session::resume(&dataset, &back, &device).expect("resumes");
    eprintln!("decoded and resumed in {:?}", started.elapsed());
}
