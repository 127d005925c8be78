//! kura scan: find stray personal data in files and folders (work in progress).
