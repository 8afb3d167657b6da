module github.com/recstore/recstore

go 1.26.8

require github.com/tidwall/btree v1.8.2
