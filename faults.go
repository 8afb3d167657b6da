package recstore

// fault names one guarantee that a test build (tag recstore_faults) can
// break on purpose, to prove that the tests notice. See faults_on.go; in
// the production build faultOn is constant false.
type fault int

const (
	// faultCheckThenAct makes GetOrCreate a plain check-then-act: no
	// stripe lock, no re-check, no re-validation in the commit step.
	faultCheckThenAct fault = iota
	// faultSkipRecheck keeps GetOrCreate's stripe lock but skips the
	// re-check after taking it and the re-validation in the commit step.
	faultSkipRecheck
	// faultLeakStripe forgets to release GetOrCreate's stripe lock when
	// create fails or panics.
	faultLeakStripe
	// faultTornPublish publishes a batch's primary key trees one version
	// before its other indexes.
	faultTornPublish
	// faultSkipUniqueCheck lets writes through without checking secondary
	// unique indexes.
	faultSkipUniqueCheck
	// faultOpenLive writes the live point indexes without the liveSeq
	// window, so that point reads may see part of a batch.
	faultOpenLive
	// faultReadersWait makes point reads, and every read that needs a
	// version, wait until no batch of the committer is being applied, as
	// they did when one DB-wide window covered each batch.
	faultReadersWait
	// faultForkWritesShared writes a hash index partition that a fork
	// shares in place, instead of copying it first.
	faultForkWritesShared
	// faultBareWritesCommit lets a bare handle write inside DB.Update's
	// function, as before writes there were refused.
	faultBareWritesCommit
	numFaults
)
