//! Requests shaped to make the server and a proxy in front of it disagree, or to
//! slip past its rules: each is refused with the contract's status and a sentence.
