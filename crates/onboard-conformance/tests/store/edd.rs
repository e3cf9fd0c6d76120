//! The EDD and document methods of the storage port (CONTRACT §7), on every
//! backend: the request's status path, one open request per user, documents
//! stored whole or not at all and read back piece by piece, tenant scope.

use std::collections::VecDeque;
use std::sync::Arc;

use onboard_core::access::Attribution;
use onboard_core::edd::{Answer, Answers, EddStatus, Form, Uploader};
use onboard_core::events::{EventDetail, EventKind};
use onboard_core::secret::KeyHash;
use onboard_core::store::{
    CHUNK_SIZE, ChunkSource, DocumentsStored, EddAnswering, EddOpening, EddReviewing, NewDocument,
    Store, StoreError,
};
use sha2::{Digest, Sha256};

use super::{NOW, all_events, enterprise, grant, individual, register};

/// Bytes handed to the store in the pieces given.
struct Pieces(VecDeque<Vec<u8>>);

#[async_trait::async_trait]
impl ChunkSource for Pieces {
    async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.0.pop_front())
    }
}

/// A document of `bytes`, cut into pieces of at most [`CHUNK_SIZE`].
fn document(filename: &str, bytes: &[u8]) -> NewDocument {
    NewDocument {
        filename: filename.to_owned(),
        document_type: "ID".to_owned(),
        content_type: "image/png".to_owned(),
        size: bytes.len() as i64,
        sha256: hex::encode(Sha256::digest(bytes)),
        ddq_id: Some(1),
        uploaded_by: Uploader::ApiKey,
        bytes: Box::new(Pieces(
            bytes.chunks(CHUNK_SIZE).map(<[u8]>::to_vec).collect(),
        )),
    }
}

fn answers_naming(files: &[&str]) -> Answers {
    let mut answers = Answers::default();
    answers.by_prompt.insert(
        2,
        Answer {
            response: "Engineer".into(),
            optional_free_form: None,
        },
    );
    for (i, file) in files.iter().enumerate() {
        answers.by_prompt.insert(
            10 + i as i64,
            Answer {
                response: (*file).into(),
                optional_free_form: None,
            },
        );
        answers.files.insert((*file).into());
    }
    answers
}

fn opened(outcome: EddOpening) -> onboard_core::edd::EddRequest {
    match outcome {
        EddOpening::Opened(request) => request,
        other => panic!("expected a new request, got {other:?}"),
    }
}

pub(super) async fn an_edd_request_walks_its_status_path_with_an_event_per_step(
    store: Arc<dyn Store>,
) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    let other = enterprise(store, "other").await.id;
    register(store, acme, individual("u1")).await;
    let open =
        |e, u: &'static str| store.open_edd_request(e, u, Form::Individual, "requested", NOW);

    let request = opened(open(acme, "u1").await.unwrap());
    assert_eq!(request.status, EddStatus::Requested);
    assert_eq!(
        (request.user_id.as_str(), request.form),
        ("u1", Form::Individual)
    );
    assert_eq!(request.date_added, NOW);
    assert_eq!(
        open(acme, "u1").await.unwrap(),
        EddOpening::AlreadyOpen(request.clone())
    );
    assert_eq!(open(other, "u1").await.unwrap(), EddOpening::NoActiveUser);
    assert_eq!(open(acme, "ghost").await.unwrap(), EddOpening::NoActiveUser);
    let of = store.open_edd_request_of(acme, "u1").await.unwrap();
    assert_eq!(of, Some(request.clone()));
    assert_eq!(store.open_edd_request_of(other, "u1").await.unwrap(), None);

    // Answers naming a file not stored yet: PARTIAL_SUBMISSION.
    let later = NOW + time::Duration::minutes(1);
    let answers = answers_naming(&["bill"]);
    let answered = store
        .record_edd_answers(acme, request.id, &answers, later)
        .await
        .unwrap();
    let EddAnswering::Recorded(answered) = answered else {
        panic!("expected the answers recorded, got {answered:?}");
    };
    assert_eq!(answered.status, EddStatus::PartialSubmission);
    assert_eq!(answered.date_updated, later);
    let elsewhere = store
        .record_edd_answers(other, request.id, &answers, later)
        .await;
    assert_eq!(elsewhere.unwrap(), EddAnswering::NoRequest);

    // A file of another name changes nothing; the named one completes it.
    let stored = store
        .store_documents(
            acme,
            "u1",
            vec![document("photo.png", b"\x89PNG one")],
            later,
        )
        .await
        .unwrap();
    assert!(
        matches!(
            stored,
            DocumentsStored::Stored {
                completed: None,
                ..
            }
        ),
        "{stored:?}"
    );
    let stored = store
        .store_documents(acme, "u1", vec![document("bill.pdf", b"%PDF- two")], later)
        .await
        .unwrap();
    let DocumentsStored::Stored {
        completed: Some(completed),
        ..
    } = stored
    else {
        panic!("expected the request completed, got {stored:?}");
    };
    assert_eq!(completed.status, EddStatus::InReview);
    let again = store
        .record_edd_answers(acme, request.id, &answers, later)
        .await;
    assert!(
        matches!(again.unwrap(), EddAnswering::NotTaking(r) if r.status == EddStatus::InReview)
    );

    let review = Attribution {
        operator: "olivia".into(),
        note: "fine".into(),
    };
    let reviewed = store
        .review_edd_request(acme, request.id, &review, later)
        .await;
    assert!(
        matches!(reviewed.unwrap(), EddReviewing::Reviewed(r) if r.status == EddStatus::Reviewed)
    );
    let twice = store
        .review_edd_request(acme, request.id, &review, later)
        .await;
    assert!(matches!(twice.unwrap(), EddReviewing::AlreadyReviewed(_)));
    let elsewhere = store
        .review_edd_request(other, request.id, &review, later)
        .await;
    assert_eq!(elsewhere.unwrap(), EddReviewing::NoRequest);
    assert_eq!(store.open_edd_request_of(acme, "u1").await.unwrap(), None);

    // One event per step, in order, gap-free, each naming what it is about.
    let events = all_events(store, acme).await;
    let kinds: Vec<(EventKind, Option<&str>)> = events
        .iter()
        .map(|e| {
            let about = match &e.detail {
                Some(EventDetail::EddRequest(request)) => Some(request.status.as_str()),
                Some(EventDetail::Document(d)) => Some(d.filename.as_str()),
                None => None,
            };
            (e.kind, about)
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (EventKind::Registered, None),
            (EventKind::EddRequested, Some("REQUESTED")),
            (EventKind::EddUpdated, Some("PARTIAL_SUBMISSION")),
            (EventKind::DocumentUploaded, Some("photo.png")),
            (EventKind::DocumentUploaded, Some("bill.pdf")),
            (EventKind::EddUpdated, Some("IN_REVIEW")),
            (EventKind::EddUpdated, Some("REVIEWED")),
        ]
    );
    assert_eq!(super::ids(&events), (1..=7).collect::<Vec<_>>());
    assert_eq!(events[6].by.as_ref(), Some(&review));
    assert!(events[..6].iter().all(|e| e.by.is_none()));
    assert!(all_events(store, other).await.is_empty());

    // A new request may be opened once the last is reviewed; lists filter.
    let second = opened(open(acme, "u1").await.unwrap());
    assert!(second.id > request.id);
    let all = store.list_edd_requests(acme, None, 0, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.id).collect::<Vec<_>>(),
        [request.id, second.id]
    );
    let after = store
        .list_edd_requests(acme, Some("u1"), request.id, 10)
        .await
        .unwrap();
    assert_eq!(after, [second]);
    assert!(
        store
            .list_edd_requests(other, None, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .list_edd_requests(acme, Some("u2"), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

pub(super) async fn documents_are_stored_whole_in_pieces_and_read_back_in_scope(
    store: Arc<dyn Store>,
) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    let other = enterprise(store, "other").await.id;
    register(store, acme, individual("u1")).await;
    register(store, acme, individual("u2")).await;
    let big: Vec<u8> = (0..CHUNK_SIZE * 2 + 100).map(|i| (i % 253) as u8).collect();
    let stored = store
        .store_documents(
            acme,
            "u1",
            vec![document("big.png", &big), document("small.png", b"tiny")],
            NOW,
        )
        .await
        .unwrap();
    let DocumentsStored::Stored { documents, .. } = stored else {
        panic!("expected the documents stored, got {stored:?}");
    };
    assert_eq!(documents.len(), 2);
    let first = &documents[0];
    assert_eq!(
        (first.filename.as_str(), first.size),
        ("big.png", big.len() as i64)
    );
    assert_eq!(first.sha256, hex::encode(Sha256::digest(&big)));
    assert_eq!((first.uploaded_at, first.ddq_id), (NOW, Some(1)));
    assert_eq!(
        store.document(acme, first.id).await.unwrap().as_ref(),
        Some(first)
    );
    assert_eq!(store.document(other, first.id).await.unwrap(), None);

    let mut read = Vec::new();
    for seq in 0..3 {
        let piece = store.document_chunk(acme, first.id, seq).await.unwrap();
        read.extend(piece.expect("the piece is stored"));
    }
    assert_eq!(read, big);
    assert_eq!(store.document_chunk(acme, first.id, 3).await.unwrap(), None);
    assert_eq!(
        store.document_chunk(other, first.id, 0).await.unwrap(),
        None
    );

    // Bytes that do not add up to what the document claims: nothing is stored.
    let mut liar = document("liar.png", b"claimed bytes");
    liar.bytes = Box::new(Pieces(VecDeque::from([b"other bytes".to_vec()])));
    let refused = store
        .store_documents(acme, "u2", vec![document("fine.png", b"fine"), liar], NOW)
        .await;
    assert!(refused.is_err(), "{refused:?}");
    let none = store
        .store_documents(acme, "ghost", vec![document("a.png", b"a")], NOW)
        .await;
    assert_eq!(none.unwrap(), DocumentsStored::NoActiveUser);
    let none = store
        .store_documents(other, "u1", vec![document("a.png", b"a")], NOW)
        .await;
    assert_eq!(none.unwrap(), DocumentsStored::NoActiveUser);

    // What the storage quota counts: the user's bytes, the enterprise's, in all.
    let stored_bytes = big.len() as i64 + 4;
    let usage = store.document_usage(acme, "u1").await.unwrap();
    assert_eq!((usage.user, usage.enterprise), (stored_bytes, stored_bytes));
    let usage = store.document_usage(acme, "u2").await.unwrap();
    assert_eq!((usage.user, usage.enterprise), (0, stored_bytes));
    let usage = store.document_usage(other, "u1").await.unwrap();
    assert_eq!((usage.user, usage.enterprise), (0, 0));
    let totals = store.document_totals().await.unwrap();
    assert_eq!(
        (totals.all, totals.largest_enterprise),
        (stored_bytes, stored_bytes)
    );

    let listed = store.list_documents(acme, None, 0, 10).await.unwrap();
    assert_eq!(listed, documents);
    assert!(
        store
            .list_documents(acme, Some("u2"), 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let rest = store
        .list_documents(acme, Some("u1"), first.id, 10)
        .await
        .unwrap();
    assert_eq!(rest, documents[1..]);
    assert_eq!(
        store.list_documents(acme, None, 0, 1).await.unwrap().len(),
        1
    );
    assert!(
        store
            .list_documents(other, None, 0, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let uploads = all_events(store, acme)
        .await
        .into_iter()
        .filter(|e| e.kind == EventKind::DocumentUploaded)
        .count();
    assert_eq!(uploads, 2);
}

pub(super) async fn a_user_token_names_its_enterprise_and_user(store: Arc<dyn Store>) {
    let store = store.as_ref();
    let acme = enterprise(store, "acme").await.id;
    register(store, acme, individual("u1")).await;
    let expires = NOW + time::Duration::hours(24);
    store
        .mint_tokens(acme, &[grant("u1", "secret-1", expires)], NOW)
        .await
        .unwrap();
    let (owner, user) = store
        .token_owner(&KeyHash::of("secret-1"), NOW)
        .await
        .unwrap()
        .expect("the token has an owner");
    assert_eq!((owner, user.summary.user_id.as_str()), (acme, "u1"));
    assert!(
        store
            .token_owner(&KeyHash::of("secret-2"), NOW)
            .await
            .unwrap()
            .is_none()
    );
    let expired = store
        .token_owner(&KeyHash::of("secret-1"), expires)
        .await
        .unwrap();
    assert!(expired.is_none());
}

pub(super) async fn concurrent_requests_for_one_user_open_exactly_one(store: Arc<dyn Store>) {
    let acme = enterprise(store.as_ref(), "acme").await.id;
    register(store.as_ref(), acme, individual("u1")).await;
    let attempts = (0..8).map(|_| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .open_edd_request(acme, "u1", Form::Business, "requested", NOW)
                .await
                .expect("open_edd_request answers")
        })
    });
    let mut opened = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            EddOpening::Opened(_) => opened += 1,
            EddOpening::AlreadyOpen(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(opened, 1);
    let requests = store.list_edd_requests(acme, None, 0, 100).await.unwrap();
    assert_eq!(requests.len(), 1);
    assert_eq!(super::ids(&all_events(store.as_ref(), acme).await), [1, 2]);
}
