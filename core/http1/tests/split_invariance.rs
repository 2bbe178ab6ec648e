//! Every transcript of the corpus, fed whole, byte by byte and in random
//! pieces, gives the same events, output and error (at the same byte).

mod corpus;

use corpus::*;
use proptest::prelude::*;
use std::time::Instant;
use wirestate_testkit::{assert_split_invariant, cuts};

fn check_server(case: &ServerCase, cuts: &[usize]) {
    let now = Instant::now();
    let t = assert_split_invariant(
        &|| server(now),
        now,
        &case.input,
        cuts,
        case.eof,
        &mut server_reactor(),
        &normalize_server,
    );
    match &case.expect {
        Expect::Ok(n) => {
            assert!(
                t.error.is_none(),
                "{}: unexpected error {:?}",
                case.name,
                t.error
            );
            assert_eq!(count_requests(&t), *n, "{}", case.name);
        }
        Expect::Err(e) => {
            assert_eq!(t.error.as_ref().map(|x| &x.0), Some(e), "{}", case.name);
        }
    }
}

fn check_client(case: &ClientCase, cuts: &[usize]) {
    let now = Instant::now();
    let t = assert_split_invariant(
        &|| client_for(case, now),
        now,
        &case.input,
        cuts,
        case.eof,
        &mut |_, _| {},
        &normalize_client,
    );
    match &case.expect {
        Expect::Ok(n) => {
            assert!(
                t.error.is_none(),
                "{}: unexpected error {:?}",
                case.name,
                t.error
            );
            assert_eq!(count_responses(&t), *n, "{}", case.name);
        }
        Expect::Err(e) => assert_eq!(t.error.as_ref().map(|x| &x.0), Some(e), "{}", case.name),
    }
}

#[test]
fn corpus_sizes() {
    assert!(server_cases().len() >= 50);
    assert!(client_cases().len() >= 30);
}

#[test]
fn every_server_case_with_fixed_splits() {
    for case in server_cases() {
        let n = case.input.len();
        check_server(&case, &[]);
        check_server(&case, &[n / 2]);
        check_server(&case, &[1, n / 3, 2 * n / 3]);
    }
}

#[test]
fn every_client_case_with_fixed_splits() {
    for case in client_cases() {
        let n = case.input.len();
        check_client(&case, &[]);
        check_client(&case, &[n / 2]);
        check_client(&case, &[1, n / 3, 2 * n / 3]);
    }
}

fn server_case_and_cuts() -> impl Strategy<Value = (usize, Vec<usize>)> {
    let lens: Vec<usize> = server_cases().iter().map(|c| c.input.len()).collect();
    (0..lens.len()).prop_flat_map(move |i| (Just(i), cuts(lens[i])))
}

fn client_case_and_cuts() -> impl Strategy<Value = (usize, Vec<usize>)> {
    let lens: Vec<usize> = client_cases().iter().map(|c| c.input.len()).collect();
    (0..lens.len()).prop_flat_map(move |i| (Just(i), cuts(lens[i])))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn server_random_splits((i, cuts) in server_case_and_cuts()) {
        check_server(&server_cases()[i], &cuts);
    }

    #[test]
    fn client_random_splits((i, cuts) in client_case_and_cuts()) {
        check_client(&client_cases()[i], &cuts);
    }
}
