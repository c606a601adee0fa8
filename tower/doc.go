// Package tower owns Duet's two-tower model: the features it reads from
// items and histories, the item tower and the user tower that put items and
// users in one vector space, their training, and the model file.
//
// Dataset is the dense form of the catalog and behaviour log that training
// and evaluation share.
package tower
