/* Every request handler, grouped by the file that defines it. Each returns CHAT_OK after
 * filling res, or the error it already wrote with chat_fail(). */
#ifndef CHAT_HANDLERS_H
#define CHAT_HANDLERS_H

#include "router.h"

#define CHAT_HANDLER(name)                                                                   \
    int name(struct chat_app *app, struct chat_request *req, struct chat_response *res,      \
             const struct chat_route_args *args)

/* routes_auth.c */
CHAT_HANDLER(chat_handle_register);
CHAT_HANDLER(chat_handle_login);
CHAT_HANDLER(chat_handle_logout);
CHAT_HANDLER(chat_handle_me);
/* routes_users.c */
CHAT_HANDLER(chat_handle_user_search);
/* routes_blocks.c */
CHAT_HANDLER(chat_handle_block_list);
CHAT_HANDLER(chat_handle_block_add);
CHAT_HANDLER(chat_handle_block_remove);
/* routes_profile.c */
CHAT_HANDLER(chat_handle_user_get);
CHAT_HANDLER(chat_handle_profile_update);
CHAT_HANDLER(chat_handle_account_delete);
CHAT_HANDLER(chat_handle_avatar_put);
CHAT_HANDLER(chat_handle_avatar_delete);
CHAT_HANDLER(chat_handle_avatar_get);
/* routes_sessions.c */
CHAT_HANDLER(chat_handle_password_change);
CHAT_HANDLER(chat_handle_session_list);
CHAT_HANDLER(chat_handle_session_end);
CHAT_HANDLER(chat_handle_session_end_others);
/* routes_presence.c */
CHAT_HANDLER(chat_handle_user_presence);
/* routes_conversations.c */
CHAT_HANDLER(chat_handle_conversation_list);
CHAT_HANDLER(chat_handle_conversation_create);
CHAT_HANDLER(chat_handle_conversation_get);
CHAT_HANDLER(chat_handle_conversation_rename);
CHAT_HANDLER(chat_handle_conversation_leave);
/* routes_notifications.c */
CHAT_HANDLER(chat_handle_notifications_put);
/* routes_participants.c */
CHAT_HANDLER(chat_handle_participant_list);
CHAT_HANDLER(chat_handle_participant_add);
CHAT_HANDLER(chat_handle_participant_remove);
CHAT_HANDLER(chat_handle_participant_role);
/* routes_messages.c */
CHAT_HANDLER(chat_handle_message_list);
CHAT_HANDLER(chat_handle_message_create);
CHAT_HANDLER(chat_handle_message_get);
CHAT_HANDLER(chat_handle_message_edit);
CHAT_HANDLER(chat_handle_message_delete);
CHAT_HANDLER(chat_handle_message_status);
/* routes_reactions.c */
CHAT_HANDLER(chat_handle_reaction_put);
CHAT_HANDLER(chat_handle_reaction_delete);
/* routes_receipts.c */
CHAT_HANDLER(chat_handle_receipt_read);
CHAT_HANDLER(chat_handle_receipt_delivered);
/* routes_attachments.c */
CHAT_HANDLER(chat_handle_attachment_upload);
CHAT_HANDLER(chat_handle_attachment_get);
/* routes_search.c */
CHAT_HANDLER(chat_handle_search);
/* routes_admin.c */
CHAT_HANDLER(chat_handle_admin_user_list);
CHAT_HANDLER(chat_handle_admin_user_get);
CHAT_HANDLER(chat_handle_admin_user_deactivate);
CHAT_HANDLER(chat_handle_admin_user_reactivate);
CHAT_HANDLER(chat_handle_admin_message_delete);
CHAT_HANDLER(chat_handle_admin_audit);
/* routes_page.c */
CHAT_HANDLER(chat_handle_root);
CHAT_HANDLER(chat_handle_chat_page);
CHAT_HANDLER(chat_handle_conversation_page);
CHAT_HANDLER(chat_handle_conversation_send);
/* static_files.c */
CHAT_HANDLER(chat_handle_static);

#endif
